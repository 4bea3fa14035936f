/**
 * The I/O thread's scheduling niceness (PeerPool `workerNice`). On Linux `setpriority(PRIO_PROCESS, tid)`
 * acts on one thread, and a thread learns its own id from the `/proc/thread-self` link ("pid/task/tid").
 * Raising one's own niceness needs no privilege; other platforms have no per-thread niceness here, and
 * the option is ignored there.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

function threadId(): number | null {
  if (process.platform !== 'linux') return null;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

let tid: number | null | undefined;

/** The kernel's niceness of this thread, or null where it cannot be read. */
export function threadNice(): number | null {
  if (tid === undefined) tid = threadId();
  if (tid === null) return null;
  try {
    return getPriority(tid);
  } catch {
    return null;
  }
}

/** Give this thread niceness `nice` (0: leave it as inherited). Never throws: a refusal leaves it as it was. */
export function applyNice(nice: number): void {
  if (nice === 0) return;
  if (tid === undefined) tid = threadId();
  if (tid === null) return;
  try {
    setPriority(tid, nice);
  } catch {
    // Not permitted (e.g. lowering below an inherited niceness): keep running as we are.
  }
}
