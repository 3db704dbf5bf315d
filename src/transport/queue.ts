// A FIFO of messages with their encoded sizes, bounded by count and bytes.
import { assert } from '../util';
import type { Message } from '../raft';

const compactAfterItems = 1024;

export class MessageQueue {
  private items: (Message | undefined)[] = [];
  private sizes: number[] = [];
  private head = 0;
  private totalBytes = 0;

  constructor(readonly msgsMax: number, readonly bytesMax: number) {
    assert(msgsMax > 0, 'queue needs room for one message');
  }

  get length(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** False (and nothing queued) when m would pass either bound. */
  tryPush(m: Message, bytes: number): boolean {
    if (this.length >= this.msgsMax) return false;
    if (this.totalBytes + bytes > this.bytesMax) return false;
    this.items.push(m);
    this.sizes.push(bytes);
    this.totalBytes += bytes;
    return true;
  }

  /** Encoded size of the i-th queued message. */
  sizeAt(i: number): number {
    const s = this.sizes[this.head + i];
    assert(s !== undefined, 'sizeAt past the end of the queue');
    return s;
  }

  shift(): Message {
    const m = this.items[this.head];
    assert(m !== undefined, 'shift from an empty queue');
    this.totalBytes -= this.sizes[this.head] as number;
    this.items[this.head] = undefined;
    this.head++;
    if (this.head === this.items.length) {
      this.clear();
    } else if (this.head >= compactAfterItems && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
    return m;
  }

  /** Empties the queue; returns how many messages it held. */
  clear(): number {
    const n = this.length;
    this.items = [];
    this.sizes = [];
    this.head = 0;
    this.totalBytes = 0;
    return n;
  }
}
