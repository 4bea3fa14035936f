// Tests run what ships: the compiled library in dist/ (its workers start from dist/workers/).
export * from '../../dist/src/index.js';
// Fault injection (not exported by the package root).
export { crashWorker, setReusePort, stallWorker, usesReusePort, workerOfPeer } from '../../dist/src/testing.js';
