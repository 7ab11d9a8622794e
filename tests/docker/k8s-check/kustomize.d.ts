// The subset of kustomize's Kustomization (kustomize.config.k8s.io/v1beta1) that docker/k8s uses.
// Closed interfaces: a misspelled field fails the excess-property check like the Kubernetes types.
export interface KustomizeLabel {
  pairs: { [key: string]: string };
  includeSelectors?: boolean;
  includeTemplates?: boolean;
}
export interface KustomizeImage {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}
export interface Kustomization {
  apiVersion: 'kustomize.config.k8s.io/v1beta1';
  kind: 'Kustomization';
  namespace?: string;
  namePrefix?: string;
  nameSuffix?: string;
  labels?: KustomizeLabel[];
  commonAnnotations?: { [key: string]: string };
  resources?: string[];
  images?: KustomizeImage[];
}
