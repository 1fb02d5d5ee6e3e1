/**
 * One entry point for model files: `confide/linear-model@1` JSON (text or bytes) or ONNX bytes
 * as skl2onnx writes them, told apart by content, not by file name.
 *
 * @module
 */

import { HeError } from '../errors.ts';
import { type LinearModel, parseLinearModel } from './model.ts';
import { importOnnxLinearModel, isOnnx, type OnnxImportOptions } from './onnx.ts';

/**
 * Loads a linear model from JSON text, JSON bytes or ONNX bytes.
 *
 * @param source - file contents
 * @param options - for ONNX only: feature names (ONNX has none)
 * @throws {@link HeError} `HE_MODEL_INVALID`, `HE_ONNX_INVALID`, `HE_ONNX_UNSUPPORTED_OP`
 */
export function loadModel(source: Uint8Array | string, options: OnnxImportOptions = {}): LinearModel {
  if (source instanceof Uint8Array && isOnnx(source)) return importOnnxLinearModel(source, options);
  let text: string;
  if (typeof source === 'string') text = source;
  else if (source instanceof Uint8Array) {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(source);
    } catch (error) {
      throw new HeError('HE_MODEL_INVALID', 'the model file is neither ONNX nor UTF-8 JSON', {
        cause: error,
      });
    }
  } else {
    throw new HeError('HE_MODEL_INVALID', 'a model must be given as JSON text or as file bytes');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new HeError(
      'HE_MODEL_INVALID',
      `the model file is not valid JSON (${error instanceof Error ? error.message : 'parse error'}) and not ONNX`,
      { cause: error },
    );
  }
  return parseLinearModel(parsed);
}
