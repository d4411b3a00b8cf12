# Every function as a Lambda on the provided.al2023 runtime, from the
# bootstrap `make lambda` builds (dist/<function>/bootstrap), zipped here.

locals {
  name = "openagents-trust-${var.environment}"

  # Function → the secrets (local.secrets keys) its environment carries.
  # Every function validates the edge URL, service and operator credentials
  # and the signing key at start (docs/functions.md).
  functions = {
    sign      = { secrets = ["service-token", "operator-token"] }
    submit    = { secrets = ["service-token", "operator-token"] }
    pipeline  = { secrets = ["service-token", "operator-token"] }
    review    = { secrets = ["service-token", "operator-token", "reviewer-token"] }
    webhook   = { secrets = ["service-token", "operator-token", "stripe-webhook-secret"] }
    notify    = { secrets = ["service-token", "operator-token"] }
    provision = { secrets = ["service-token", "operator-token", "fly-api-token"] }
    rotate    = { secrets = ["service-token", "operator-token"] }
    retention = { secrets = ["service-token", "operator-token"] }
  }

  # Functions that build images need the pinned base and the registry.
  builders = ["submit", "pipeline", "review"]

  common_env = {
    TRUST_EDGE_URL    = var.edge_url
    TRUST_SIGNING_KEY = var.signing_key_uri
  }

  builder_env = {
    TRUST_OCI_BASE       = "/opt/oci-base"
    TRUST_OCI_BASE_IMAGE = var.oci_base_image
    TRUST_REGISTRY       = var.registry_url
    TRUST_WORK_DIR       = "/tmp"
  }

  provision_env = {
    TRUST_FLY_ORG           = var.fly_org
    TRUST_FLY_REGION        = var.agent_region
    TRUST_AGENT_IMAGE       = var.agent_image
    TRUST_MACHINE_EDGE_URL  = var.machine_edge_url != "" ? var.machine_edge_url : var.edge_url
    TRUST_MACHINE_CPU_KIND  = var.agent_cpu_kind
    TRUST_MACHINE_CPUS      = tostring(var.agent_cpus)
    TRUST_MACHINE_MEMORY_MB = tostring(var.agent_memory_mb)
  }

  function_env = {
    for fn, f in local.functions : fn => merge(
      local.common_env,
      contains(local.builders, fn) ? local.builder_env : {},
      fn == "provision" ? local.provision_env : {},
      { for s in f.secrets : local.secrets[s] => local.secret_env[local.secrets[s]] },
    )
  }
}

data "archive_file" "function" {
  for_each = local.functions

  type        = "zip"
  source_file = "${path.module}/${var.dist_dir}/${each.key}/bootstrap"
  output_path = "${path.module}/${var.dist_dir}/${each.key}.zip"
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = "/aws/lambda/${local.name}-${each.key}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "function" {
  for_each = local.functions

  function_name    = "${local.name}-${each.key}"
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.lambda_architecture]
  filename         = data.archive_file.function[each.key].output_path
  source_code_hash = data.archive_file.function[each.key].output_base64sha256
  memory_size      = lookup(var.lambda_memory_mb, each.key, var.lambda_default_memory_mb)
  timeout          = lookup(var.lambda_timeout_seconds, each.key, 30)
  kms_key_arn      = aws_kms_key.trust.arn
  layers           = contains(local.builders, each.key) && var.oci_base_layer_arn != "" ? [var.oci_base_layer_arn] : []

  # One provisioning run at a time: an agent is never given two Machines by
  # concurrent calls (docs/provisioning.md).
  reserved_concurrent_executions = each.key == "provision" ? 1 : -1

  environment {
    variables = local.function_env[each.key]
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  depends_on = [aws_iam_role_policy.function]
}
