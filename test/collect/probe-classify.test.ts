// Which GenerateRandom answers say the key store is failing (PROBE_FAILING), which are a permission problem,
// which are throttling, and which say nothing. Pure.
import { describe, expect, it } from 'vitest';
import { classifyProbeError } from '../../src/collect/poller.js';

describe('classifyProbeError', () => {
  it.each([
    // GenerateRandom's modeled errors that concern the store (kms-2014-11-01.json), KMSInvalidStateException, timeouts
    ['CustomKeyStoreInvalidStateException', 'failing'],
    ['KMSInternalException', 'failing'],
    ['DependencyTimeoutException', 'failing'],
    ['KMSInvalidStateException', 'failing'],
    ['Timeout', 'failing'],
    ['AccessDeniedException', 'denied'],
    ['AccessDenied', 'denied'],
    ['ThrottlingException', 'throttled'],
    // say nothing about the store's health
    ['CustomKeyStoreNotFoundException', 'inconclusive'],
    ['UnsupportedOperationException', 'inconclusive'],
    ['ConnectionReset', 'inconclusive'],
    ['UnrecognizedClientException', 'inconclusive'],
    ['SomethingNewException', 'inconclusive'],
  ] as const)('%s -> %s', (code, outcome) => {
    expect(classifyProbeError(code)).toBe(outcome);
  });
});
