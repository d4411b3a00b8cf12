# EventBridge rules for the scheduled functions: they receive the rule's
# event envelope (docs/functions.md).

resource "aws_cloudwatch_event_rule" "schedule" {
  for_each = var.schedules

  name                = "${local.name}-${each.key}"
  description         = "openagents-trust ${each.key} schedule"
  schedule_expression = each.value
}

resource "aws_cloudwatch_event_target" "schedule" {
  for_each = var.schedules

  rule = aws_cloudwatch_event_rule.schedule[each.key].name
  arn  = aws_lambda_function.function[each.key].arn
}

resource "aws_lambda_permission" "schedule" {
  for_each = var.schedules

  statement_id  = "AllowEventBridge"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function[each.key].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule[each.key].arn
}
