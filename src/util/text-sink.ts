import { StringDecoder } from 'node:string_decoder';

/**
 * A command's output as text, from the chunks it arrives in: decoded as UTF-8 across chunk boundaries
 * (a character split between two chunks stays one character, not two U+FFFD), kept up to `max` characters.
 */
export class TextSink {
  private readonly decoder = new StringDecoder('utf8');
  private text = '';

  constructor(private readonly max: number) {}

  write(chunk: Buffer): void {
    const s = this.decoder.write(chunk);
    if (this.text.length < this.max) this.text += s;
  }

  /** Everything written, the decoder's tail flushed (an incomplete last character: one U+FFFD). */
  end(): string {
    if (this.text.length < this.max) this.text += this.decoder.end();
    return this.text;
  }
}
