/**
 * Printing text that came from elsewhere (a server, a file, an error message) to a terminal
 * without letting it drive the terminal: C0 and C1 control characters (U+0000–U+001F,
 * U+007F–U+009F, ECMA-48) are replaced by visible `\u{…}` escapes, so an escape sequence cannot
 * move the cursor, rewrite earlier lines or change the window title.
 *
 * Deliberately not here: bidirectional or other invisible format characters, and any quoting.
 *
 * @module
 */

/** `text` with every C0/C1 control character (including newline and tab) written as `\u{hex}`. */
export function safeText(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u{${c.codePointAt(0)?.toString(16)}}`);
}
