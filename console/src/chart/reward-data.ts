/** One stored step of a DPO job, as the JobRewards query returns it. */
export interface RewardStep {
  step: number;
  rewardAccuracy?: number | null;
  rewardMargin?: number | null;
}

/** A DPO job's reward curve as chart columns: steps in order, each once, steps without rewards left out. */
export interface RewardColumns {
  steps: number[];
  accuracy: number[];
  margin: number[];
}

/** Builds the columns from pages of steps (in any order, possibly overlapping). */
export function rewardColumns(pages: RewardStep[][]): RewardColumns {
  const byStep = new Map<number, { accuracy: number; margin: number }>();
  for (const page of pages) {
    for (const s of page) {
      if (typeof s.rewardAccuracy === 'number' && typeof s.rewardMargin === 'number') {
        byStep.set(s.step, { accuracy: s.rewardAccuracy, margin: s.rewardMargin });
      }
    }
  }
  const steps = [...byStep.keys()].sort((a, b) => a - b);
  return { steps, accuracy: steps.map((s) => byStep.get(s)!.accuracy), margin: steps.map((s) => byStep.get(s)!.margin) };
}
