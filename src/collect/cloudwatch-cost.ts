// What the CloudWatch enrichment costs a month. Pure.
//
// Pricing basis (Amazon CloudWatch pricing, https://aws.amazon.com/cloudwatch/pricing/, "API" tab, us-east-1):
// GetMetricData is billed per metric requested, $0.01 per 1,000 metrics (it is not in the free tier);
// ListMetrics is a standard API request, $0.01 per 1,000 requests after the 1,000,000 free each month.
// Other regions may differ; the figure is an estimate for the order of magnitude, not a bill.
//
// Metrics requested per poll (collect/cloudwatch.ts: one query per listed series and statistic):
//  - an external key store: XksProxyCertificateDaysToExpire (1 per certificate name), XksProxyCredentialAge
//    (1), XksExternalKeyManagerStates (3 states), XksProxyErrors (1 per operation x error type x exception
//    published in the last two weeks; 4 assumed), XksProxyLatency (2 statistics x operations; 2 operations
//    assumed: 4), ExternalKeyStoreThrottle (1 per operation; 1 assumed): about 14;
//  - a CloudHSM key store: CloudHSMKeyStoreThrottle (1 assumed) and its cluster's HsmUnhealthy (1): about 2.
export const PRICE_PER_1000_METRICS_USD = 0.01;
export const PRICE_PER_1000_REQUESTS_USD = 0.01;
export const METRICS_PER_XKS_STORE = 14;
export const METRICS_PER_CLOUDHSM_STORE = 2;
const MONTH_MS = 30 * 86_400_000;

export interface CostInput {
  xksStores: number;
  cloudHsmStores: number;
  /** Account-region targets with at least one store (one ListMetrics walk each per poll, 1-2 calls). */
  targetsWithStores: number;
  pollIntervalMs: number;
}

export interface CostEstimate {
  pollsPerMonth: number;
  metricsPerPoll: number;
  getMetricDataUsd: number;
  listMetricsRequests: number;
  listMetricsUsdBeyondFreeTier: number;
}

export function cloudWatchMonthlyCost(c: CostInput): CostEstimate {
  const pollsPerMonth = Math.round(MONTH_MS / c.pollIntervalMs);
  const metricsPerPoll = c.xksStores * METRICS_PER_XKS_STORE + c.cloudHsmStores * METRICS_PER_CLOUDHSM_STORE;
  const listMetricsRequests = c.targetsWithStores * 2 * pollsPerMonth;
  return {
    pollsPerMonth,
    metricsPerPoll,
    getMetricDataUsd: (metricsPerPoll * pollsPerMonth / 1000) * PRICE_PER_1000_METRICS_USD,
    listMetricsRequests,
    listMetricsUsdBeyondFreeTier: (Math.max(0, listMetricsRequests - 1_000_000) / 1000) * PRICE_PER_1000_REQUESTS_USD,
  };
}

export const usd = (v: number): string => `$${v < 10 ? v.toFixed(2) : Math.round(v).toLocaleString('en-US')}`;
