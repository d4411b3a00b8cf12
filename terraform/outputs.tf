output "functions_url" {
  description = "Base URL of the functions (the custom domain when set)."
  value       = var.api_domain != "" ? "https://${var.api_domain}" : aws_apigatewayv2_api.functions.api_endpoint
}

output "functions_execute_api_url" {
  description = "The HTTP API's own URL."
  value       = aws_apigatewayv2_api.functions.api_endpoint
}

output "api_domain_target" {
  description = "DNS target (CNAME or alias) for api_domain; empty without one."
  value       = var.api_domain != "" ? aws_apigatewayv2_domain_name.functions[0].domain_name_configuration[0].target_domain_name : ""
}

output "edge_url" {
  description = "The edge's public URL."
  value       = var.edge_url
}

output "machine_edge_url" {
  description = "The edge URL agent Machines are given."
  value       = local.provision_env.TRUST_MACHINE_EDGE_URL
}

output "function_names" {
  description = "Lambda function names by function."
  value       = { for k, f in aws_lambda_function.function : k => f.function_name }
}

output "secret_arns" {
  description = "Secrets to fill out of band (README.md), by name."
  value       = { for k, s in aws_secretsmanager_secret.trust : k => s.arn }
}

output "kms_key_arn" {
  description = "The key encrypting the secrets and the functions' environment."
  value       = aws_kms_key.trust.arn
}
