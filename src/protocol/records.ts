/**
 * Record kinds that cross the rings. The low byte of REC_KIND is the kind; FLAG_* bits mark fragments
 * of a message larger than one record (a message is split when it is larger than a quarter of the ring).
 *
 * Main -> worker (the worker's outbound ring):
 *   CMD_CONNECT   payload: JSON ConnectConfig                   opens a client connection in `slot`
 *   CMD_ACCEPT    payload: JSON AcceptConfig                    server side of a taken stream (server issue)
 *   CMD_SEND_*    payload: message bytes (or a fragment)        aux: total length on FIRST
 *   CMD_CLOSE     payload: UTF-8 reason                         aux: close code, or -1 to drop at once
 *   CMD_NO_DELAY  aux: 0 / 1
 *   CMD_HEARTBEAT aux: interval in milliseconds (0 = off)
 *   CMD_LISTEN    slot: server id; payload JSON ListenConfig    bind + listen; result in the sync cell
 *                                                                (cfg.sync) or as EV_LISTEN
 *   CMD_UNLISTEN  slot: server id                                close this worker's socket of it; answer
 *                                                                in the sync cell if it had one
 *   CMD_STREAM_CLOSE     slot: stream id                         drop a taken or untaken TCP/TLS stream
 *   CMD_STREAM_NO_DELAY  slot: stream id; aux: 0 / 1
 *   CMD_TLS_ACCEPT slot: stream id; aux: TLS context id; payload JSON {key, cert} the first time
 *   CMD_SUBSCRIBE   aux: topic id                                the connection joins the topic (this worker's
 *                                                                 member list of it)
 *   CMD_UNSUBSCRIBE aux: topic id                                it leaves it
 *   CMD_PUBLISH_*   slot: a connection to leave out, or -1;      one message for every member of the topic in
 *                   aux: topic id; payload: message bytes         this worker, framed once (fragments of a
 *                   (or a fragment)                               large one carry FIRST/LAST, aux on each)
 *   CMD_HANDSHAKE_ANSWER  aux: 0 = accept (the 101 as without approval), else the HTTP status
 *                 (400-599) to refuse with; payload: UTF-8 reason (the body of the refusal, <= 1 KiB).
 *                 The answer to an EV_REQUEST (AcceptConfig.approval); ignored if the connection is not
 *                 waiting for one (answered already, timed out, closed)
 *
 * Worker -> main (the worker's inbound ring):
 *   EV_REQUEST    payload: JSON RequestInfo (or a fragment)      server side with approval on: the
 *                 aux: total length on FIRST                     upgrade request is valid and waits for a
 *                                                                CMD_HANDSHAKE_ANSWER (or the deadline).
 *                                                                A per-slot event: below EV_INCOMING
 *   EV_OPEN       payload: JSON OpenInfo                         the handshake completed
 *   EV_MSG_*      payload: message bytes (or a fragment)         aux: total length on FIRST
 *   EV_CLOSED     payload: JSON CloseInfo                        aux: close code (-1 = not clean); last
 *                                                                record of the slot: main may reuse it
 *   EV_INCOMING      slot: stream id; aux: server id; payload JSON {host, port}: a TCP connection accepted
 *   EV_STREAM_STATUS slot: stream id; aux: StreamPeerTLS status (handshake progress)
 *   EV_STREAM_CLOSED slot: stream id; aux: 1 if by error       the stream is gone (never for a stream
 *                                                                handed to a WebSocketPeer by CMD_ACCEPT)
 *   EV_LISTEN     slot: server id; aux: SYNC_* status; payload JSON ListenResult: the answer to a
 *                 CMD_LISTEN nobody waits for (a bind after a worker's death, another worker's reusePort
 *                 socket)
 */
export const KIND_MASK = 0xff;
export const FLAG_FIRST = 0x100;
export const FLAG_LAST = 0x200;
export const FLAG_WHOLE = FLAG_FIRST | FLAG_LAST;

/** Filler to the end of the ring; skipped by the consumer. */
export const REC_PAD = 0;

export const CMD_CONNECT = 1;
export const CMD_ACCEPT = 2;
export const CMD_SEND_TEXT = 3;
export const CMD_SEND_BINARY = 4;
export const CMD_CLOSE = 5;
export const CMD_NO_DELAY = 6;
export const CMD_HEARTBEAT = 7;
export const CMD_LISTEN = 8;
// 9 was CMD_LISTEN_FD (workers accepting on a shared fd): gone, see ARCHITECTURE.md "Listening sockets".
export const CMD_UNLISTEN = 10;
export const CMD_STREAM_CLOSE = 11;
export const CMD_STREAM_NO_DELAY = 12;
export const CMD_TLS_ACCEPT = 13;
export const CMD_SUBSCRIBE = 24;
export const CMD_UNSUBSCRIBE = 25;
export const CMD_PUBLISH_TEXT = 26;
export const CMD_PUBLISH_BINARY = 27;
export const CMD_HANDSHAKE_ANSWER = 14;

/** Per-slot events are 15..19; stream events start at EV_INCOMING (20): the main thread's drain tells them apart by that. */
export const EV_REQUEST = 15;

export const EV_OPEN = 16;
export const EV_MSG_TEXT = 17;
export const EV_MSG_BINARY = 18;
export const EV_CLOSED = 19;
export const EV_INCOMING = 20;
export const EV_STREAM_STATUS = 21;
export const EV_STREAM_CLOSED = 22;
export const EV_LISTEN = 23;
// 24-27: reserved (topics).
