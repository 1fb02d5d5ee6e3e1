/**
 * The session plan for the cohort that joined a networked round, and who a server stage still
 * waits for: re-exports, so existing imports keep working. The threshold rules live once, in
 * `planner.ts` ({@link planCohort} beside `planRound`); who is pending is the state machine's
 * (`protocol/server.ts`).
 *
 * @module
 */
export { type CohortPlan, MIN_COHORT, planCohort, SMALL_COHORT } from '../planner.ts';

// Who a stage waits for is the state machine's to say; re-exported here for existing imports.
export { expectedSenders, pendingSenders } from '../protocol/server.ts';
