/**
 * `confide/he`: encrypted inference of linear, logistic and multinomial models with CKKS over
 * Microsoft SEAL (node-seal 7, WebAssembly).
 *
 * @module
 */

export {
  LINEAR_MODEL_FORMAT,
  type LinearModel,
  type LinearTask,
  type Prediction,
  parseLinearModel,
  predictFromScores,
  type StandardScaler,
  scorePlaintext,
  sigmoid,
  softmax,
} from './model.ts';
