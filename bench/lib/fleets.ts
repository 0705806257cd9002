// The fleets and faults of the fleet-scale bench (bench/run.ts), in one place: bench/sdk-floor.ts sends
// exactly the calls of run.ts's sparse and dense scenarios, so both take their shapes, sizes and the
// simulator's faults from here and cannot drift apart.
import { REGIONS_16, type FleetShape, type SimFaults } from './sim-process.js';

/** The simulator's faults: 30-50 ms per call (mean 40 ms), 5/s per account-region. */
export const FAULTS: SimFaults = { latencyMs: 30, jitterMs: 20, rateLimitPerSecond: 5 };
/** The mean latency the simulator draws (latencyMs + uniform [0, jitterMs)). */
export const MEAN_LATENCY_MS = FAULTS.latencyMs + FAULTS.jitterMs / 2;
/** Targets in flight (run.ts --concurrency overrides it). */
export const CONCURRENCY = 64;

export interface FleetSizes {
  /** Accounts the sparse simulator generates. */
  simAccounts: number;
  /** Accounts the sparse (default) scenario watches: the first of simAccounts. */
  defaultAccounts: number;
  /** The dense scenario: every generated account, in the first `regions` of REGIONS_16. */
  dense: { accounts: number; regions: number };
}

/** The default scenario (1,000 of 4,000 accounts x 16 regions, ~2,000 stores; dense 500 x 16), and --quick's. */
export const FLEET_SIZES: { full: FleetSizes; quick: FleetSizes } = {
  full: { simAccounts: 4000, defaultAccounts: 1000, dense: { accounts: 500, regions: 16 } },
  quick: { simAccounts: 16, defaultAccounts: 16, dense: { accounts: 20, regions: 4 } },
};

/** Sparse (the default scenario): 0.125 stores per account-region, 40 % CloudHSM, 5 % FAILED. */
export function sparseFleet(simAccounts: number): FleetShape {
  return { seed: 7, accounts: simAccounts, regions: REGIONS_16, storesPerRegion: 0.125, cloudHsmFraction: 0.4, failedFraction: 0.05, hsmsPerCluster: 2 };
}

/** Dense (issue 14): one store in every account-region, 40 % CloudHSM, 5 % FAILED. */
export function denseFleet(sizes: FleetSizes['dense']): FleetShape {
  return { seed: 9, accounts: sizes.accounts, regions: REGIONS_16.slice(0, sizes.regions), storesPerRegion: 1, cloudHsmFraction: 0.4, failedFraction: 0.05, hsmsPerCluster: 2 };
}
