# The functions' HTTP API (API Gateway HTTP API, payload format 2.0): one
# route per function route; each function checks its own credential.

locals {
  # Route key → function. Exact routes only: an unknown path gets API
  # Gateway's 404 without invoking anything.
  routes = {
    "POST /v1/sign"                                                  = "sign"
    "POST /v1/submissions"                                           = "submit"
    "GET /v1/submissions/{id}"                                       = "submit"
    "GET /v1/review/queue"                                           = "review"
    "GET /v1/review/submissions/{id}"                                = "review"
    "POST /v1/review/submissions/{id}"                               = "review"
    "GET /review/{proxy+}"                                           = "review"
    "POST /review/{proxy+}"                                          = "review"
    "POST /v1/webhooks/stripe"                                       = "webhook"
    "PUT /v1/provision/tenants/{tenant}/agents/{agent}"              = "provision"
    "GET /v1/provision/tenants/{tenant}/agents/{agent}"              = "provision"
    "DELETE /v1/provision/tenants/{tenant}/agents/{agent}"           = "provision"
    "POST /v1/provision/tenants/{tenant}/agents/{agent}/suspend"     = "provision"
    "POST /v1/provision/tenants/{tenant}/agents/{agent}/resume"      = "provision"
    "POST /v1/provision/tenants/{tenant}/machines/{machine}/suspend" = "provision"
  }

  routed_functions = toset(values(local.routes))
}

resource "aws_apigatewayv2_api" "functions" {
  name          = "${local.name}-functions"
  protocol_type = "HTTP"
  description   = "openagents-trust functions (${var.environment})"
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.functions.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit  = var.api_throttle_rate
    throttling_burst_limit = var.api_throttle_burst
  }
}

resource "aws_apigatewayv2_integration" "function" {
  for_each = local.routed_functions

  api_id                 = aws_apigatewayv2_api.functions.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.function[each.key].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 30000
}

resource "aws_apigatewayv2_route" "function" {
  for_each = local.routes

  api_id    = aws_apigatewayv2_api.functions.id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.function[each.value].id}"
}

resource "aws_lambda_permission" "api" {
  for_each = local.routed_functions

  statement_id  = "AllowHTTPAPI"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function[each.key].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.functions.execution_arn}/*/*"
}

resource "aws_apigatewayv2_domain_name" "functions" {
  count = var.api_domain == "" ? 0 : 1

  domain_name = var.api_domain

  domain_name_configuration {
    certificate_arn = var.api_certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }
}

resource "aws_apigatewayv2_api_mapping" "functions" {
  count = var.api_domain == "" ? 0 : 1

  api_id      = aws_apigatewayv2_api.functions.id
  domain_name = aws_apigatewayv2_domain_name.functions[0].id
  stage       = aws_apigatewayv2_stage.default.id
}
