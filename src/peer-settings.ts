/**
 * The connection settings `WebSocketPeer` and `WebSocketMultiplayerPeer` share (Godot's properties, and
 * ringsocket's `slowPeerPolicy` and `handshakeApproval`): one place for their defaults, validation and
 * documentation. A multiplayer peer gives its settings to each peer it starts (`copySettings`).
 */
import { checkSize, checkStringList } from './validation.js';
import type { DeflateWire } from './protocol/control.js';

/** What a publication does to a peer whose outbound budget is full (see `slowPeerPolicy`). */
export type SlowPeerPolicy = 'skip' | 'close';

/** Not in Godot: permessage-deflate (RFC 7692) options (see `perMessageDeflate`). Every field optional. */
export type PerMessageDeflateOptions = DeflateWire;

const DEFLATE_KEYS = new Set(['serverNoContextTakeover', 'clientNoContextTakeover', 'serverMaxWindowBits', 'clientMaxWindowBits', 'threshold', 'level', 'memLevel', 'hibernateAfterMs']);

function checkDeflate(v: unknown): false | true | Readonly<PerMessageDeflateOptions> {
  if (v === false || v === true) return v;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`perMessageDeflate must be a boolean or an options object, got ${String(v)}`);
  const o = v as Record<string, unknown>;
  const out: PerMessageDeflateOptions = {};
  for (const k of Object.keys(o)) if (!DEFLATE_KEYS.has(k)) throw new TypeError(`perMessageDeflate: unknown option ${k}`);
  const int = (k: string, min: number, max: number): number | undefined => {
    const x = o[k];
    if (x === undefined) return undefined;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) throw new TypeError(`perMessageDeflate.${k} must be an integer between ${min} and ${max}, got ${String(x)}`);
    return x;
  };
  for (const k of ['serverNoContextTakeover', 'clientNoContextTakeover'] as const) {
    const x = o[k];
    if (x === undefined) continue;
    if (typeof x !== 'boolean') throw new TypeError(`perMessageDeflate.${k} must be a boolean, got ${String(x)}`);
    out[k] = x;
  }
  const sb = int('serverMaxWindowBits', 8, 15);
  if (sb !== undefined) out.serverMaxWindowBits = sb;
  const cb = int('clientMaxWindowBits', 8, 15);
  if (cb !== undefined) out.clientMaxWindowBits = cb;
  const th = int('threshold', 0, 0x7fffffff);
  if (th !== undefined) out.threshold = th;
  const lv = int('level', -1, 9);
  if (lv !== undefined) out.level = lv;
  const ml = int('memLevel', 1, 9);
  if (ml !== undefined) out.memLevel = ml;
  const hb = int('hibernateAfterMs', 0, 0x7fffffff);
  if (hb !== undefined) out.hibernateAfterMs = hb;
  return Object.freeze(out);
}

/** @internal What goes in a ConnectConfig / AcceptConfig: undefined when off. */
export function deflateWire(s: Readonly<SettingsView>): DeflateWire | undefined {
  const d = s.perMessageDeflate;
  if (d === false) return undefined;
  return d === true ? {} : { ...d };
}

/** The shared default of both list properties: the setters replace it, the getters copy it. */
const NO_STRINGS: string[] = [];

/** @internal The settings as stored (no copies), for the subclasses' connect and accept. */
export interface SettingsView {
  handshakeHeaders: readonly string[];
  supportedProtocols: readonly string[];
  inboundBufferSize: number;
  maxQueuedPackets: number;
  outboundBufferSize: number;
  slowPeerPolicy: SlowPeerPolicy;
  handshakeApproval: boolean;
  perMessageDeflate: false | true | Readonly<PerMessageDeflateOptions>;
}

let viewOf: (s: PeerSettings) => SettingsView;

export class PeerSettings {
  readonly #s: SettingsView = {
    handshakeHeaders: NO_STRINGS,
    supportedProtocols: NO_STRINGS,
    inboundBufferSize: 65535,
    maxQueuedPackets: 4096,
    outboundBufferSize: 65535,
    slowPeerPolicy: 'skip',
    handshakeApproval: false,
    perMessageDeflate: false,
  };

  static {
    viewOf = (s) => s.#s;
  }

  /** Godot `handshake_headers` (default `[]`): extra `Name: value` lines sent in the handshake. */
  get handshakeHeaders(): string[] {
    return this.#s.handshakeHeaders.slice();
  }
  set handshakeHeaders(v: string[]) {
    this.#s.handshakeHeaders = checkStringList(v, 'handshakeHeaders');
  }

  /** Godot `inbound_buffer_size` (default 65535): bytes of received messages a peer may hold. */
  get inboundBufferSize(): number {
    return this.#s.inboundBufferSize;
  }
  set inboundBufferSize(v: number) {
    this.#s.inboundBufferSize = checkSize(v, 'inboundBufferSize', 1);
  }

  /** Godot `max_queued_packets` (default 4096): messages a peer may hold in each direction. */
  get maxQueuedPackets(): number {
    return this.#s.maxQueuedPackets;
  }
  set maxQueuedPackets(v: number) {
    this.#s.maxQueuedPackets = checkSize(v, 'maxQueuedPackets', 1);
  }

  /** Godot `outbound_buffer_size` (default 65535): bytes of messages queued for sending. */
  get outboundBufferSize(): number {
    return this.#s.outboundBufferSize;
  }
  set outboundBufferSize(v: number) {
    this.#s.outboundBufferSize = checkSize(v, 'outboundBufferSize', 1);
  }

  /** Godot `supported_protocols` (default `[]`): subprotocols offered (client) or accepted (server). */
  get supportedProtocols(): string[] {
    return this.#s.supportedProtocols.slice();
  }
  set supportedProtocols(v: string[]) {
    this.#s.supportedProtocols = checkStringList(v, 'supportedProtocols');
  }

  /**
   * Not in Godot: what a topic publication (`PeerPool.publish`, `WebSocketMultiplayerPeer.putPacket` to
   * many) does when a peer's socket already holds more than `outboundBufferSize` bytes unwritten (a
   * client that does not read): `'skip'` (default) — the peer misses that message, counted by
   * `getSkippedPacketCount()` and the pool's `stats().fanoutSkipped`; `'close'` — the peer is closed with
   * 1008 (policy violation), as uWebSockets.js's `closeOnBackpressureLimit`. Read when a connection starts.
   */
  get slowPeerPolicy(): SlowPeerPolicy {
    return this.#s.slowPeerPolicy;
  }
  set slowPeerPolicy(v: SlowPeerPolicy) {
    if (v !== 'skip' && v !== 'close') throw new TypeError(`slowPeerPolicy must be 'skip' or 'close', got ${String(v)}`);
    this.#s.slowPeerPolicy = v;
  }

  /**
   * Not in Godot: `handshakeApproval` (default false), read when a server-side connection starts
   * (`acceptStream`; a multiplayer server's new peers). When true, the worker validates the upgrade
   * request as always (a bad one still gets its 4xx there), then waits for the main thread to accept or
   * reject it, within the pool's `handshakeTimeout` (counted from TCP accept; a multiplayer peer's own
   * `handshakeTimeout` if shorter). See README "Checking the upgrade". Ignored by clients.
   */
  get handshakeApproval(): boolean {
    return this.#s.handshakeApproval;
  }
  set handshakeApproval(v: boolean) {
    if (typeof v !== 'boolean') throw new TypeError(`handshakeApproval must be a boolean, got ${String(v)}`);
    this.#s.handshakeApproval = v;
  }

  /**
   * Not in Godot (Godot 4's WebSocketPeer has no compression): permessage-deflate (RFC 7692), read when
   * a connection starts. `false` (default): not offered (client) and declined (server); `true`: offered
   * and accepted with the defaults; an object (`PerMessageDeflateOptions`): the parameters, the
   * threshold, zlib's level and memLevel, and when idle connections put their streams to sleep
   * (`hibernateAfterMs`, default 10 s). All compression runs in the workers. What was agreed:
   * `getSelectedExtensions()`. A TypeError for an invalid value.
   */
  get perMessageDeflate(): boolean | PerMessageDeflateOptions {
    const d = this.#s.perMessageDeflate;
    return typeof d === 'boolean' ? d : { ...d };
  }
  set perMessageDeflate(v: boolean | PerMessageDeflateOptions) {
    this.#s.perMessageDeflate = checkDeflate(v);
  }
}

/** @internal The settings of `s` as stored (read-only use: no copies made). */
export function settingsOf(s: PeerSettings): Readonly<SettingsView> {
  return viewOf(s);
}

/** @internal Give `to` the settings of `from` (a multiplayer peer's to each peer it starts). */
export function copySettings(from: PeerSettings, to: PeerSettings): void {
  Object.assign(viewOf(to), viewOf(from));
}
