#!/usr/bin/python3
"""python-websockets peer for the interop tests (Debian's /usr/bin/python3 with python3-websockets).

  peer.py server [--cert F --key F] [--deflate]
      Echo server on 127.0.0.1, port 0. Prints JSON lines on stdout: {"event":"listening","port":N}, then per
      connection {"event":"open","path":...}, per message {"event":"message","type","len","sha256","expected"}
      (expected: the bytes equal payload(type, len)), and {"event":"closed","code","reason"} when it ends.
      Text commands are not echoed: "cmd:close:CODE:REASON" closes with that code and reason,
      "cmd:send:KIND:SIZE" sends payload(KIND, SIZE). Exits when stdin closes.
  peer.py client URL [--ca F] [--max-size N] [--deflate] (--close CODE REASON | --await-close) MESSAGES_JSON
      Connects (wss: trusts only F when given, else the system store), sends each [kind, size] of MESSAGES_JSON
      as payload(kind, size) and waits for its echo; then closes with CODE/REASON, or waits for the server to
      close. Prints one JSON object: {"opened", "replies":[{"type","len","sha256","equal"}], "close_code",
      "close_reason", "error", "extensions"} (the 101's Sec-WebSocket-Extensions).
  --deflate: permessage-deflate on (python-websockets' defaults); off otherwise.
payload() is the same generator as test/interop/payload.ts (the tests check byte for byte).
"""
import asyncio
import hashlib
import json
import ssl
import sys

import websockets

ALPHABET = 'héllo wörld € 𝄞 '


def payload(kind, size, seed=0):
    if kind == 'binary':
        return bytes(((i * 131 + seed * 7 + (i >> 8)) & 0xFF) for i in range(size))
    chars = [c.encode('utf-8') for c in ALPHABET]
    out = bytearray()
    k = seed
    while True:
        ch = chars[k % len(chars)]
        if len(out) + len(ch) > size:
            break
        out += ch
        k += 1
    out += b'x' * (size - len(out))
    return bytes(out)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def describe(msg):
    kind = 'text' if isinstance(msg, str) else 'binary'
    b = msg.encode('utf-8') if kind == 'text' else bytes(msg)
    return kind, b


async def serve(args):
    ctx = None
    if '--cert' in args:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args[args.index('--cert') + 1], args[args.index('--key') + 1])

    async def handler(ws, *_):
        emit({'event': 'open', 'path': ws.path})
        try:
            async for msg in ws:
                if isinstance(msg, str) and msg.startswith('cmd:'):
                    parts = msg.split(':', 3)
                    if parts[1] == 'close':
                        await ws.close(int(parts[2]), parts[3])
                        break
                    if parts[1] == 'send':
                        data = payload(parts[2], int(parts[3]))
                        await ws.send(data.decode('utf-8') if parts[2] == 'text' else data)
                        continue
                kind, b = describe(msg)
                emit({'event': 'message', 'type': kind, 'len': len(b), 'sha256': hashlib.sha256(b).hexdigest(),
                      'expected': b == payload(kind, len(b))})
                await ws.send(msg)
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
        emit({'event': 'closed', 'code': ws.close_code, 'reason': ws.close_reason})

    compression = 'deflate' if '--deflate' in args else None
    async with websockets.serve(handler, '127.0.0.1', 0, ssl=ctx, max_size=None, compression=compression) as server:
        emit({'event': 'listening', 'port': server.sockets[0].getsockname()[1]})
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def client(args):
    url = args[0]
    messages = json.loads(args[-1])
    out = {'opened': False, 'replies': [], 'close_code': None, 'close_reason': None, 'error': None}
    ctx = None
    if url.startswith('wss:'):
        ctx = ssl.create_default_context(cafile=args[args.index('--ca') + 1]) if '--ca' in args else ssl.create_default_context()
    max_size = int(args[args.index('--max-size') + 1]) if '--max-size' in args else None
    try:
        compression = 'deflate' if '--deflate' in args else None
        async with websockets.connect(url, ssl=ctx, max_size=max_size, compression=compression, open_timeout=10) as ws:
            out['opened'] = True
            out['extensions'] = ws.response_headers.get('Sec-WebSocket-Extensions')
            try:
                for kind, size in messages:
                    data = payload(kind, size)
                    await ws.send(data.decode('utf-8') if kind == 'text' else data)
                    reply = await asyncio.wait_for(ws.recv(), 20)
                    rkind, b = describe(reply)
                    out['replies'].append({'type': rkind, 'len': len(b), 'sha256': hashlib.sha256(b).hexdigest(),
                                           'equal': rkind == kind and b == data})
                if '--close' in args:
                    i = args.index('--close')
                    await ws.close(int(args[i + 1]), args[i + 2])
                else:
                    await asyncio.wait_for(ws.wait_closed(), 20)
            except websockets.ConnectionClosed:
                pass
            await asyncio.wait_for(ws.wait_closed(), 20)
            out['close_code'] = ws.close_code
            out['close_reason'] = ws.close_reason
    except Exception as e:  # refused handshake, TLS failure, timeout: reported, not raised
        out['error'] = f'{type(e).__name__}: {e}'
    emit(out)


if __name__ == '__main__':
    mode, rest = sys.argv[1], sys.argv[2:]
    asyncio.run(serve(rest) if mode == 'server' else client(rest))
