/**
 * Heartbeat state of one connection, made by its first `setHeartbeat` (most connections never have one).
 * Dead-peer detection: two whole intervals without a single byte from the peer (data, ping, pong or
 * close frames) and it is gone. While our own reading is paused (a slow consumer), frames wait in the kernel
 * unread: that silence is ours, not the peer's, so it does not count.
 */
export class Beat {
  timer: NodeJS.Timeout | null = null;
  /** A frame arrived from the peer since the last beat. */
  heard = true;
  missed = 0;

  /** Stop the pings and start counting afresh. */
  reset(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.missed = 0;
    this.heard = true;
  }

  /** One interval passed: true when the peer is to be taken for dead (else ping it). */
  due(readingPaused: boolean): boolean {
    if (this.heard || readingPaused) {
      this.heard = false;
      this.missed = 0;
      return false;
    }
    return ++this.missed >= 2;
  }
}
