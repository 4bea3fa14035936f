// Tests run what ships: the compiled library in dist/ (its workers start from dist/workers/).
export * from '../../dist/src/index.js';
