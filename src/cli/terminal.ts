/**
 * Text for the terminal: control characters (C0, DEL and C1) in text that may come from elsewhere
 * (a server's error message, a file name) are escaped as `\u{hex}`, so they cannot move the
 * cursor, rewrite earlier lines or send escape sequences to the terminal.
 *
 * @module
 */

/** `text` with every C0/C1 control character (and DEL) written as `\u{hex}`. */
export function safeText(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u{${c.codePointAt(0)?.toString(16)}}`);
}
