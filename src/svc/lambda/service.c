/* The Lambda API as a service on the front (front/svc.h): botocore's operations (ops.def)
 * with the handlers lambdad implements, and lambdad's own endpoints (/lambdad/v1/...,
 * /metrics) as entries of the same table. */
#include "svc/lambda/api_int.h"

enum lambda_op {
#define OP(name, method, uri, status) LAMBDA_OP_##name,
#define IN(op, member, loc, wire)
#include "svc/lambda/ops.def"
#undef OP
#undef IN
	/* lambdad's own */
	LAMBDA_OP_LambdadGetLogs,
	LAMBDA_OP_LambdadPrewarm,
	LAMBDA_OP_LambdadKeepAlive,
	LAMBDA_OP_LambdadEvents,
	LAMBDA_OP_LambdadGetCode,
	LAMBDA_OP_LambdadMetrics,
	LAMBDA_OP_COUNT
};

/* A handler of the table's shape around an api_* handler. */
#define BIND(hname, fn, ...)                                                                                 \
	static void hname(void *ctx, const struct svc_call *c)                                               \
	{                                                                                                    \
		struct api_req r = {.req = c->rq, .cmd = front_req_method(c->rq), .call = c};                \
		fn(ctx, &r, ##__VA_ARGS__);                                                                  \
	}

BIND(h_create_function, api__create_function)
BIND(h_list_functions, api__list_functions)
BIND(h_get_function, api__get_function, false)
BIND(h_get_function_configuration, api__get_function, true)
BIND(h_delete_function, api__delete_function)
BIND(h_update_configuration, api__update_configuration)
BIND(h_update_code, api__update_code)
BIND(h_invoke, api__invoke)
BIND(h_invoke_async, api__invoke_async)
BIND(h_invoke_with_response_stream, api__invoke_with_response_stream)
BIND(h_account_settings, api__account_settings)
BIND(h_put_concurrency, api__put_concurrency)
BIND(h_get_concurrency, api__get_concurrency)
BIND(h_delete_concurrency, api__delete_concurrency)
BIND(h_provisioned_concurrency, api__provisioned_concurrency)
BIND(h_event_invoke_config, api__event_invoke_config)
BIND(h_list_event_invoke_configs, api__list_event_invoke_configs)
BIND(h_function_url, api__function_url)
BIND(h_list_function_urls, api__list_function_urls)
BIND(h_tags, api__tags)
BIND(h_csc, api__csc, false)
BIND(h_csc_functions, api__csc, true)
BIND(h_function_csc, api__function_csc)
BIND(h_ext_logs, api__ext_logs)
BIND(h_ext_prewarm, api__ext_prewarm)
BIND(h_ext_keep_alive, api__ext_keep_alive)
BIND(h_ext_events, api__ext_events)
BIND(h_ext_code, api__ext_code)
BIND(h_metrics, api__metrics)
BIND(h_policy, api__policy)
BIND(h_recursion_config, api__recursion_config)
BIND(h_runtime_management_config, api__runtime_management_config)
BIND(h_function_scaling_config, api__function_scaling_config)
BIND(h_layer_publish, api__layers, API_LAYER_PUBLISH)
BIND(h_layer_get, api__layers, API_LAYER_GET)
BIND(h_layer_get_by_arn, api__layers, API_LAYER_GET_BY_ARN)
BIND(h_layer_list, api__layers, API_LAYER_LIST)
BIND(h_layer_list_versions, api__layers, API_LAYER_LIST_VERSIONS)
BIND(h_layer_delete, api__layers, API_LAYER_DELETE)
BIND(h_layer_add_permission, api__layers, API_LAYER_ADD_PERMISSION)
BIND(h_layer_get_policy, api__layers, API_LAYER_GET_POLICY)
BIND(h_layer_remove_permission, api__layers, API_LAYER_REMOVE_PERMISSION)
BIND(h_publish_version, api__publish_version)
BIND(h_list_versions, api__list_versions)
BIND(h_aliases, api__aliases)

/* Every operation of ops.def first (handler NULL), then the handlers lambdad has: a later
 * designator of the same member overrides the earlier one. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
static const struct op lambda_ops[LAMBDA_OP_COUNT] = {
#define OP(n, m, tmpl, status) [LAMBDA_OP_##n] = {.name = #n, .method = FRONT_##m, .uri = tmpl},
#define IN(op, member, loc, wire)
#include "svc/lambda/ops.def"
#undef OP
#undef IN
    [LAMBDA_OP_LambdadGetLogs] = {.name = "LambdadGetLogs",
                                  .method = FRONT_GET,
                                  .uri = "/lambdad/v1/functions/{FunctionName}/logs",
                                  .handler = h_ext_logs},
    [LAMBDA_OP_LambdadPrewarm] = {.name = "LambdadPrewarm",
                                  .method = FRONT_POST,
                                  .uri = "/lambdad/v1/functions/{FunctionName}/prewarm",
                                  .handler = h_ext_prewarm},
    [LAMBDA_OP_LambdadKeepAlive] = {.name = "LambdadKeepAlive",
                                    .method = FRONT_OTHER,
                                    .uri = "/lambdad/v1/functions/{FunctionName}/keep-alive",
                                    .handler = h_ext_keep_alive},
    [LAMBDA_OP_LambdadEvents] = {.name = "LambdadEvents",
                                 .method = FRONT_OTHER,
                                 .uri = "/lambdad/v1/functions/{FunctionName}/events/{Op}",
                                 .handler = h_ext_events},
    [LAMBDA_OP_LambdadGetCode] = {.name = "LambdadGetCode",
                                  .method = FRONT_GET,
                                  .uri = "/lambdad/v1/code/{File}",
                                  .handler = h_ext_code},
    [LAMBDA_OP_LambdadMetrics] = {.name = "LambdadMetrics",
                                  .method = FRONT_GET,
                                  .uri = "/metrics",
                                  .handler = h_metrics},

    [LAMBDA_OP_CreateFunction].handler = h_create_function,
    [LAMBDA_OP_ListFunctions].handler = h_list_functions,
    [LAMBDA_OP_GetFunction].handler = h_get_function,
    [LAMBDA_OP_GetFunctionConfiguration].handler = h_get_function_configuration,
    [LAMBDA_OP_DeleteFunction].handler = h_delete_function,
    [LAMBDA_OP_UpdateFunctionConfiguration].handler = h_update_configuration,
    [LAMBDA_OP_UpdateFunctionCode].handler = h_update_code,
    [LAMBDA_OP_Invoke].handler = h_invoke,
    [LAMBDA_OP_InvokeAsync].handler = h_invoke_async,
    [LAMBDA_OP_InvokeWithResponseStream].handler = h_invoke_with_response_stream,
    [LAMBDA_OP_GetAccountSettings].handler = h_account_settings,
    [LAMBDA_OP_PutFunctionConcurrency].handler = h_put_concurrency,
    [LAMBDA_OP_GetFunctionConcurrency].handler = h_get_concurrency,
    [LAMBDA_OP_DeleteFunctionConcurrency].handler = h_delete_concurrency,
    [LAMBDA_OP_PutProvisionedConcurrencyConfig].handler = h_provisioned_concurrency,
    [LAMBDA_OP_GetProvisionedConcurrencyConfig].handler = h_provisioned_concurrency,
    [LAMBDA_OP_DeleteProvisionedConcurrencyConfig].handler = h_provisioned_concurrency,
    [LAMBDA_OP_ListProvisionedConcurrencyConfigs].handler = h_provisioned_concurrency,
    [LAMBDA_OP_PutFunctionEventInvokeConfig].handler = h_event_invoke_config,
    [LAMBDA_OP_UpdateFunctionEventInvokeConfig].handler = h_event_invoke_config,
    [LAMBDA_OP_GetFunctionEventInvokeConfig].handler = h_event_invoke_config,
    [LAMBDA_OP_DeleteFunctionEventInvokeConfig].handler = h_event_invoke_config,
    [LAMBDA_OP_ListFunctionEventInvokeConfigs].handler = h_list_event_invoke_configs,
    [LAMBDA_OP_CreateFunctionUrlConfig].handler = h_function_url,
    [LAMBDA_OP_GetFunctionUrlConfig].handler = h_function_url,
    [LAMBDA_OP_UpdateFunctionUrlConfig].handler = h_function_url,
    [LAMBDA_OP_DeleteFunctionUrlConfig].handler = h_function_url,
    [LAMBDA_OP_ListFunctionUrlConfigs].handler = h_list_function_urls,
    [LAMBDA_OP_TagResource].handler = h_tags,
    [LAMBDA_OP_UntagResource].handler = h_tags,
    [LAMBDA_OP_ListTags].handler = h_tags,
    [LAMBDA_OP_CreateCodeSigningConfig].handler = h_csc,
    [LAMBDA_OP_ListCodeSigningConfigs].handler = h_csc,
    [LAMBDA_OP_GetCodeSigningConfig].handler = h_csc,
    [LAMBDA_OP_UpdateCodeSigningConfig].handler = h_csc,
    [LAMBDA_OP_DeleteCodeSigningConfig].handler = h_csc,
    [LAMBDA_OP_ListFunctionsByCodeSigningConfig].handler = h_csc_functions,
    [LAMBDA_OP_PutFunctionCodeSigningConfig].handler = h_function_csc,
    [LAMBDA_OP_GetFunctionCodeSigningConfig].handler = h_function_csc,
    [LAMBDA_OP_DeleteFunctionCodeSigningConfig].handler = h_function_csc,
    [LAMBDA_OP_AddPermission].handler = h_policy,
    [LAMBDA_OP_GetPolicy].handler = h_policy,
    [LAMBDA_OP_RemovePermission].handler = h_policy,
    [LAMBDA_OP_PutFunctionRecursionConfig].handler = h_recursion_config,
    [LAMBDA_OP_GetFunctionRecursionConfig].handler = h_recursion_config,
    [LAMBDA_OP_PutRuntimeManagementConfig].handler = h_runtime_management_config,
    [LAMBDA_OP_GetRuntimeManagementConfig].handler = h_runtime_management_config,
    [LAMBDA_OP_PutFunctionScalingConfig].handler = h_function_scaling_config,
    [LAMBDA_OP_GetFunctionScalingConfig].handler = h_function_scaling_config,
    [LAMBDA_OP_PublishLayerVersion].handler = h_layer_publish,
    [LAMBDA_OP_GetLayerVersion].handler = h_layer_get,
    [LAMBDA_OP_GetLayerVersionByArn].handler = h_layer_get_by_arn,
    [LAMBDA_OP_ListLayers].handler = h_layer_list,
    [LAMBDA_OP_ListLayerVersions].handler = h_layer_list_versions,
    [LAMBDA_OP_DeleteLayerVersion].handler = h_layer_delete,
    [LAMBDA_OP_AddLayerVersionPermission].handler = h_layer_add_permission,
    [LAMBDA_OP_GetLayerVersionPolicy].handler = h_layer_get_policy,
    [LAMBDA_OP_RemoveLayerVersionPermission].handler = h_layer_remove_permission,
    [LAMBDA_OP_PublishVersion].handler = h_publish_version,
    [LAMBDA_OP_ListVersionsByFunction].handler = h_list_versions,
    [LAMBDA_OP_CreateAlias].handler = h_aliases,
    [LAMBDA_OP_GetAlias].handler = h_aliases,
    [LAMBDA_OP_UpdateAlias].handler = h_aliases,
    [LAMBDA_OP_DeleteAlias].handler = h_aliases,
    [LAMBDA_OP_ListAliases].handler = h_aliases,
};
#pragma GCC diagnostic pop

void api__front_add(struct front *f, struct api *a)
{
	front_add(f, &lambda_furl_svc, a);
	front_add(f, &lambda_execute_api_svc, a);
	front_add(f, &lambda_svc, a);
	front_add(f, &apigw_svc, a);
}

const struct svc lambda_svc = {
    .name = "lambda",
    .title = "Lambda",
    .proto = PROTO_REST_JSON,
    .ops = lambda_ops,
    .nops = LAMBDA_OP_COUNT,
    .errors = lambda_errors,
    .nerrors = LAMBDA_ERR_COUNT,
    .err_unknown_op = LAMBDA_ERR_UNKNOWN_OPERATION,
    .err_bad_input = LAMBDA_ERR_INVALID_PARAMETER_VALUE,
    .err_unavailable = LAMBDA_ERR_SHUTTING_DOWN,
    .err_too_large = LAMBDA_ERR_REQUEST_TOO_LARGE,
    .err_flags = PROTO_ERR_TYPE_FIELD,
};
