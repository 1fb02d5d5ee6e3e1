/**
 * The graph step of lineage verification (`lineage-verify.ts` module notes): links from inputs to
 * upstream attestations (`PROV_LINEAGE_UPSTREAM_MISSING`, `PROV_LINEAGE_UPSTREAM_MISMATCH`,
 * `PROV_LINEAGE_INPUT_NOT_PRODUCED`), cycles (`PROV_LINEAGE_CYCLE`) and failure flowing
 * downstream (`PROV_LINEAGE_UPSTREAM_INVALID`), over nodes already verified one by one. Pure.
 *
 * Deliberately not here: anything about signatures or statements (`lineage-verify.ts`).
 *
 * @module
 */

import type { VerificationErrorCode } from '../errors.ts';

/** An artifact in a node's report. */
export interface LineageArtifactReport {
  readonly name?: string;
  readonly digest: string;
  readonly attestation?: string;
}

/** A problem found at one node. */
export interface LineageProblem {
  readonly code: VerificationErrorCode;
  readonly message: string;
}

/** A node as the graph walk sees it. */
export interface LineageGraphNode {
  /** The attestation digest. */
  readonly id: string;
  readonly subjects: readonly LineageArtifactReport[];
  readonly inputs: readonly LineageArtifactReport[];
  /** The node already failed on its own (signature, shape…): it only propagates failure. */
  readonly failed?: boolean;
}

/**
 * The graph checks (module notes) over nodes that were verified one by one: returns the problems
 * of each node id (ids without problems are absent; nodes given as `failed` are not reported
 * again). Exported for tests and for callers that verify nodes their own way.
 */
export function walkLineageGraph(nodes: readonly LineageGraphNode[]): Map<string, LineageProblem[]> {
  const problems = new Map<string, LineageProblem[]>();
  const add = (id: string, code: VerificationErrorCode, message: string): void => {
    const list = problems.get(id) ?? [];
    list.push({ code, message });
    problems.set(id, list);
  };
  const byId = new Map<string, LineageGraphNode>();
  for (const n of nodes) {
    const seen = byId.get(n.id);
    if (seen === undefined || (seen.failed === true && n.failed !== true)) byId.set(n.id, n);
  }
  const live = [...byId.values()].filter((n) => n.failed !== true);
  const label = (a: LineageArtifactReport): string =>
    a.name === undefined ? a.digest.slice(0, 16) : `'${a.name}'`;
  const short = (id: string): string => `${id.slice(0, 16)}…`;

  // Links, and the edges used for cycles: references, plus implied ones for inputs naming no upstream.
  const edges = new Map<string, string[]>();
  for (const n of live) {
    const out: string[] = [];
    for (const input of n.inputs) {
      if (input.attestation === undefined) {
        for (const o of live)
          if (o.id !== n.id && o.subjects.some((s) => s.digest === input.digest)) out.push(o.id);
        continue;
      }
      const up = byId.get(input.attestation);
      if (up === undefined) {
        const standIn = nodes.find(
          (o) =>
            o.id !== n.id &&
            o.subjects.some(
              (s) => s.digest === input.digest || (input.name !== undefined && s.name === input.name),
            ),
        );
        if (standIn !== undefined)
          add(
            n.id,
            'PROV_LINEAGE_UPSTREAM_MISMATCH',
            `input ${label(input)} was signed against attestation ${short(input.attestation)}, but ${short(standIn.id)} was given in its place`,
          );
        else
          add(
            n.id,
            'PROV_LINEAGE_UPSTREAM_MISSING',
            `input ${label(input)} needs attestation ${short(input.attestation)}, which was not given`,
          );
        continue;
      }
      if (up.failed !== true && !up.subjects.some((s) => s.digest === input.digest))
        add(
          n.id,
          'PROV_LINEAGE_INPUT_NOT_PRODUCED',
          `input ${label(input)} is not among the outputs of its upstream attestation ${short(up.id)}`,
        );
      out.push(up.id);
    }
    edges.set(n.id, out);
  }

  // Cycles (iterative DFS with colours): every node on a cycle is refused.
  const colour = new Map<string, 1 | 2>();
  const onCycle = new Set<string>();
  for (const start of edges.keys()) {
    if (colour.has(start)) continue;
    const stack: { id: string; next: string[] }[] = [{ id: start, next: [...(edges.get(start) ?? [])] }];
    colour.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { id: string; next: string[] };
      const child = top.next.pop();
      if (child === undefined) {
        colour.set(top.id, 2);
        stack.pop();
      } else if (colour.get(child) === 1) {
        const from = stack.findIndex((f) => f.id === child);
        for (const f of stack.slice(from)) onCycle.add(f.id);
      } else if (!colour.has(child) && edges.has(child)) {
        colour.set(child, 1);
        stack.push({ id: child, next: [...(edges.get(child) ?? [])] });
      }
    }
  }
  for (const id of onCycle)
    add(
      id,
      'PROV_LINEAGE_CYCLE',
      'this attestation is on a cycle: an event consumes, through others, its own output',
    );

  // Failure flows downstream along references, to a fixpoint.
  const failed = (id: string): boolean => byId.get(id)?.failed === true || problems.has(id);
  let changed = true;
  while (changed) {
    changed = false;
    for (const n of live) {
      if (problems.has(n.id)) continue;
      const bad = n.inputs.find((i) => i.attestation !== undefined && failed(i.attestation));
      if (bad !== undefined) {
        add(
          n.id,
          'PROV_LINEAGE_UPSTREAM_INVALID',
          `the upstream attestation of input ${label(bad)} failed verification`,
        );
        changed = true;
      }
    }
  }
  return problems;
}
