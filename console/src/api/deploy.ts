import { useMutation, useQueryClient } from '@tanstack/react-query';
import { DeployDocument } from '../generated/graphql';
import { request, throwPayloadErrors } from './graphql';

/** Deploys a model (a base model or a fine-tuned one); `onDeployed` gets the deployment. */
export function useDeploy(onDeployed?: (deployment: { id: string; modelId: string; status: string }) => void) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (modelId: string) => {
      const result = (await request(DeployDocument, { modelId })).deployModel;
      throwPayloadErrors(result.errors);
      return result.deployment!;
    },
    onSuccess: (deployment) => onDeployed?.(deployment),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['deployments'] }),
  });
}
