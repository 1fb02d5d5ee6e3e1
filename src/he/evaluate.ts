/**
 * The server-side math: scores of a linear model on ciphertexts, given evaluation keys only.
 *
 * Every circuit has depth one: multiply by plaintext weights encoded at the exact value of the
 * prime the next rescale divides out (so the result keeps scale Δ exactly), sum, rescale once,
 * add the intercepts. Results are then at the last level, the smallest ciphertexts SEAL has.
 * See `layout.ts` for the packings and `params.ts` for the bounds that keep this exact.
 *
 * The weight plaintexts are encoded once per evaluator and reused for every batch.
 *
 * Deliberately not here: containers, I/O, sigmoid/softmax (the client applies link functions
 * after decryption).
 *
 * @module
 */

import type { Ciphertext, GaloisKeys, Plaintext } from 'node-seal';
import { HeError } from '../errors.ts';
import type { HeContext } from './context.ts';
import { bsgsDiagonals, constantVector, singleBias, singleWeights } from './layout.ts';
import type { LinearModel } from './model.ts';
import { type HePlan, singleLayoutShape } from './params.ts';
import { type HandleScope, native } from './runtime.ts';

interface BatchPlaintexts {
  /** weights[c][j], undefined where w_cj = 0 (skipped: a zero plaintext makes a transparent ciphertext). */
  readonly weights: readonly (readonly (Plaintext | undefined)[])[];
  readonly biases: readonly Plaintext[];
}

interface SinglePlaintexts {
  readonly weights: Plaintext | undefined;
  readonly diagonals: readonly { baby: number; giant: number; plain: Plaintext }[];
  readonly bias: Plaintext;
}

/** Evaluates one model on ciphertexts under one parameter set. Owns its plaintexts. */
export class ModelEvaluator {
  readonly #ctx: HeContext;
  readonly #model: LinearModel;
  readonly #plan: HePlan;
  readonly #galois: GaloisKeys | undefined;
  readonly #owned: Plaintext[] = [];
  #batch: BatchPlaintexts | undefined;
  #single: SinglePlaintexts | undefined;
  #disposed = false;

  constructor(ctx: HeContext, model: LinearModel, plan: HePlan, galois: GaloisKeys | undefined) {
    this.#ctx = ctx;
    this.#model = model;
    this.#plan = plan;
    this.#galois = galois;
    model.coefficients.forEach((row, c) => {
      if (row.every((w) => w === 0)) {
        throw new HeError(
          'HE_MODEL_INVALID',
          `output ${c} has only zero coefficients; its score is the intercept alone and needs no encryption`,
        );
      }
    });
  }

  #encode(values: Float64Array, scale: number, atLast: boolean): Plaintext {
    const { seal, encoder, evaluator } = this.#ctx;
    const plain = new seal.Plaintext();
    this.#owned.push(plain);
    encoder.encode(values, scale, plain);
    if (atLast) evaluator.plainModSwitchToInplace(plain, this.#ctx.lastParmsId);
    return plain;
  }

  #batchPlaintexts(): BatchPlaintexts {
    if (!this.#batch) {
      const { slots, rescalePrime, scale } = this.#ctx;
      this.#batch = native('encoding the model weights', () => ({
        weights: this.#model.coefficients.map((row) =>
          row.map((w) => (w === 0 ? undefined : this.#encode(constantVector(w, slots), rescalePrime, false))),
        ),
        biases: this.#model.intercepts.map((b) => this.#encode(constantVector(b, slots), scale, true)),
      }));
    }
    return this.#batch;
  }

  #singlePlaintexts(): SinglePlaintexts {
    if (!this.#single) {
      const { slots, rescalePrime, scale } = this.#ctx;
      const { coefficients, intercepts } = this.#model;
      this.#single = native('encoding the model weights', () => ({
        weights:
          coefficients.length === 1
            ? this.#encode(
                singleWeights(coefficients[0] as readonly number[], this.#plan.block, slots),
                rescalePrime,
                false,
              )
            : undefined,
        diagonals:
          coefficients.length === 1
            ? []
            : bsgsDiagonals(coefficients, this.#plan.features, slots).map((d) => ({
                baby: d.baby,
                giant: d.giant,
                plain: this.#encode(d.values, rescalePrime, false),
              })),
        bias: this.#encode(singleBias(intercepts, slots), scale, true),
      }));
    }
    return this.#single;
  }

  #assertLive(): void {
    if (this.#disposed) throw new HeError('HE_USE_AFTER_DISPOSE', 'this evaluator was disposed');
  }

  /**
   * Batch layout: `inputAt(j)` loads the ciphertext of feature j of one chunk; each is used for
   * every output and freed before the next is loaded, so a chunk never holds more than one input
   * in memory. Returns one result ciphertext per output, registered in `scope`.
   */
  evaluateBatch(features: number, inputAt: (j: number) => Ciphertext, scope: HandleScope): Ciphertext[] {
    this.#assertLive();
    const { seal, evaluator } = this.#ctx;
    const { weights, biases } = this.#batchPlaintexts();
    const accumulators = weights.map(() => scope.add(new seal.Ciphertext()));
    const started = weights.map(() => false);
    const term = scope.add(new seal.Ciphertext());
    for (let j = 0; j < features; j++) {
      const input = inputAt(j);
      weights.forEach((row, c) => {
        const plain = row[j];
        if (!plain) return;
        const acc = accumulators[c] as Ciphertext;
        if (!started[c]) {
          evaluator.multiplyPlain(input, plain, acc);
          started[c] = true;
        } else {
          evaluator.multiplyPlain(input, plain, term);
          evaluator.addInplace(acc, term);
        }
      });
      input.delete();
    }
    term.delete();
    return accumulators.map((acc, c) => {
      evaluator.rescaleToNextInplace(acc);
      acc.setScale(this.#ctx.scale);
      evaluator.addPlainInplace(acc, biases[c] as Plaintext);
      return acc;
    });
  }

  /** Single layout: one sample's ciphertext in, one result ciphertext out. */
  evaluateSingle(input: Ciphertext, scope: HandleScope): Ciphertext {
    this.#assertLive();
    const galois = this.#galois;
    if (!galois) {
      throw new HeError(
        'HE_LAYOUT_UNAVAILABLE',
        'the single layout needs Galois keys, and these evaluation keys were made for the batch layout only: generate keys with layout single (or both)',
      );
    }
    const { seal, evaluator } = this.#ctx;
    const plaintexts = this.#singlePlaintexts();
    const acc = scope.add(new seal.Ciphertext());
    if (plaintexts.weights) {
      evaluator.multiplyPlain(input, plaintexts.weights, acc);
      evaluator.rescaleToNextInplace(acc);
      acc.setScale(this.#ctx.scale);
      const rotated = scope.add(new seal.Ciphertext());
      for (let step = 1; step < this.#plan.block; step *= 2) {
        evaluator.rotateVector(acc, step, galois, rotated);
        evaluator.addInplace(acc, rotated);
      }
    } else {
      // Baby steps: rotations of the input by 1 … baby-1, computed once.
      const babies = new Map<number, Ciphertext>([[0, input]]);
      const term = scope.add(new seal.Ciphertext());
      const groups = new Map<number, Ciphertext>();
      for (const { baby, giant, plain } of plaintexts.diagonals) {
        let rotated = babies.get(baby);
        if (!rotated) {
          rotated = scope.add(new seal.Ciphertext());
          evaluator.rotateVector(input, baby, galois, rotated);
          babies.set(baby, rotated);
        }
        const group = groups.get(giant);
        if (!group) {
          const fresh = scope.add(new seal.Ciphertext());
          evaluator.multiplyPlain(rotated, plain, fresh);
          groups.set(giant, fresh);
        } else {
          evaluator.multiplyPlain(rotated, plain, term);
          evaluator.addInplace(group, term);
        }
      }
      let started = false;
      const stride = singleLayoutShape(this.#plan.features, this.#plan.outputs).baby;
      for (const [giant, group] of groups) {
        evaluator.rescaleToNextInplace(group);
        group.setScale(this.#ctx.scale);
        if (giant !== 0) evaluator.rotateVectorInplace(group, giant * stride, galois);
        if (!started) {
          acc.assign(group);
          started = true;
        } else {
          evaluator.addInplace(acc, group);
        }
      }
    }
    evaluator.addPlainInplace(acc, plaintexts.bias);
    return acc;
  }

  /** Frees every plaintext this evaluator encoded. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const plain of this.#owned) if (!plain.isDeleted()) plain.delete();
    this.#owned.length = 0;
  }
}
