/**
 * Godot `TLSOptions`: how a client verifies a server, or which key and certificate a server presents.
 * PEM strings or buffers. Instances are immutable; create them with the static factories.
 */
export type Pem = string | Uint8Array;

export type TLSMode = 'client' | 'client-unsafe' | 'server';

function pemText(p: Pem | undefined, what: string): string | undefined {
  if (p === undefined || p === null) return undefined;
  if (typeof p === 'string') return p;
  if (p instanceof Uint8Array) return Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('utf8');
  throw new TypeError(`${what} must be a PEM string or Uint8Array`);
}

export class TLSOptions {
  readonly mode: TLSMode;
  /** PEM CA chain a client trusts instead of the system store (client modes). */
  readonly trustedChain: string | undefined;
  /** Name to verify the certificate against instead of the URL's host (client). "" = the URL's host. */
  readonly commonNameOverride: string;
  /** Server private key and certificate chain (server mode). */
  readonly key: string | undefined;
  readonly certificate: string | undefined;

  private constructor(mode: TLSMode, trusted?: string, cn = '', key?: string, cert?: string) {
    this.mode = mode;
    this.trustedChain = trusted;
    this.commonNameOverride = cn;
    this.key = key;
    this.certificate = cert;
    Object.freeze(this);
  }

  /**
   * Godot `TLSOptions.client(trusted_chain = null, common_name_override = "")`: verify the server's
   * certificate and host name, against `trustedChain` if given, else the system CAs.
   */
  static client(trustedChain?: Pem, commonNameOverride = ''): TLSOptions {
    if (typeof commonNameOverride !== 'string') throw new TypeError('commonNameOverride must be a string');
    return new TLSOptions('client', pemText(trustedChain, 'trustedChain'), commonNameOverride);
  }

  /** Godot `TLSOptions.client_unsafe(trusted_chain = null)`: no verification at all. For tests only. */
  static clientUnsafe(trustedChain?: Pem): TLSOptions {
    return new TLSOptions('client-unsafe', pemText(trustedChain, 'trustedChain'));
  }

  /** Godot `TLSOptions.server(key, certificate)`. */
  static server(key: Pem, certificate: Pem): TLSOptions {
    const k = pemText(key, 'key');
    const c = pemText(certificate, 'certificate');
    if (!k || !c) throw new TypeError('TLSOptions.server needs a key and a certificate');
    return new TLSOptions('server', undefined, '', k, c);
  }

  isServer(): boolean {
    return this.mode === 'server';
  }

  isUnsafe(): boolean {
    return this.mode === 'client-unsafe';
  }
}
