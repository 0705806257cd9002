// Offline schema validation of Kubernetes objects: each object is constructed with its class from
// kubernetes-models (the core and apps APIs) or @kubernetes-models/prometheus-operator
// (monitoring.coreos.com) and validated against the OpenAPI schema with .validate(). An apiVersion or
// kind without a model is an error, never a pass.
//
// What this catches: wrong types, missing required fields, bad enum values and patterns (durations,
// quantities). What it does not: unknown fields (the Kubernetes schemas do not forbid them), so
// strictFields below adds a check of our own for the fields our manifests use most.

type Model = { new (data: object): { validate(): void } };

async function modelFor(apiVersion: string, kind: string): Promise<Model> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') as [string, string] : ['', apiVersion];
  const spec = group === 'monitoring.coreos.com' ? `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}`
    : group === '' ? `kubernetes-models/${version}` : `kubernetes-models/${group}/${version}`;
  let mod: Record<string, unknown>;
  try {
    mod = await import(spec);
  } catch {
    throw new Error(`no schema model for ${apiVersion} (${spec} does not exist)`);
  }
  const model = mod[kind];
  if (typeof model !== 'function') throw new Error(`no schema model for ${apiVersion} ${kind}`);
  return model as Model;
}

export interface K8sObject { apiVersion: string; kind: string; metadata: { name: string; [k: string]: unknown }; [k: string]: unknown }

/** Validates one object; throws naming the object and the schema errors. */
export async function validateObject(obj: K8sObject): Promise<void> {
  if (!obj || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') throw new Error(`not a Kubernetes object: ${JSON.stringify(obj).slice(0, 200)}`);
  let model: Model;
  try {
    model = await modelFor(obj.apiVersion, obj.kind);
  } catch (e) {
    throw new Error(`${obj.apiVersion} ${obj.kind} ${obj.metadata?.name}: ${(e as Error).message}`);
  }
  try {
    new model(obj).validate();
  } catch (e) {
    throw new Error(`${obj.kind} ${obj.metadata?.name}: ${(e as Error).message}`);
  }
  strictFields(obj);
}

const CONTAINER_FIELDS = new Set(['name', 'image', 'imagePullPolicy', 'command', 'args', 'workingDir', 'ports', 'env', 'envFrom', 'resources', 'volumeMounts', 'livenessProbe', 'readinessProbe', 'startupProbe', 'securityContext', 'lifecycle', 'terminationMessagePath', 'terminationMessagePolicy', 'stdin', 'stdinOnce', 'tty', 'volumeDevices', 'resizePolicy', 'restartPolicy']);
const TOP_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'data', 'binaryData', 'stringData', 'type', 'immutable', 'automountServiceAccountToken', 'imagePullSecrets', 'secrets']);
const METADATA_FIELDS = new Set(['name', 'namespace', 'labels', 'annotations', 'generateName', 'finalizers', 'ownerReferences']);

/** Unknown fields where a typo is easy and silent: the object's top level, metadata, and containers. */
function strictFields(obj: K8sObject): void {
  for (const k of Object.keys(obj)) if (!TOP_FIELDS.has(k)) throw new Error(`${obj.kind} ${obj.metadata.name}: unknown field ${k}`);
  for (const k of Object.keys(obj.metadata)) if (!METADATA_FIELDS.has(k)) throw new Error(`${obj.kind} ${obj.metadata.name}: unknown field metadata.${k}`);
  const pod = (obj.spec as any)?.template?.spec;
  for (const c of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
    for (const k of Object.keys(c)) if (!CONTAINER_FIELDS.has(k)) throw new Error(`${obj.kind} ${obj.metadata.name}: unknown container field ${k}`);
  }
}
