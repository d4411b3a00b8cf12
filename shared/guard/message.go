package guard

import (
	"encoding/json"
)

// Turn kinds in a Conversation.
const (
	turnUserText      = "user_text"
	turnAssistantText = "assistant_text"
	turnToolCall      = "tool_call"
	turnToolResult    = "tool_result"
)

type turn struct {
	kind    string
	text    string
	call    ToolCall
	isError bool
}

// Conversation builds LLM requests that keep trusted and untrusted text in
// separate places. The system prompt is fixed when the conversation is
// created and nothing else is ever added to it; user content and tool
// results go into their own messages or content blocks, each sanitized.
// Encode it with Anthropic or OpenAI.
type Conversation struct {
	system    string
	sanitizer *Sanitizer
	turns     []turn
}

// NewConversation starts a conversation under a trusted system prompt (for
// a guarded session, Guard.SystemPrompt, which carries the canary). The
// prompt is not sanitized: it is the platform's own text.
func NewConversation(system string) *Conversation {
	return &Conversation{system: system, sanitizer: NewSanitizer()}
}

// System returns the system prompt.
func (c *Conversation) System() string { return c.system }

// User adds untrusted user content as its own turn, sanitized, and returns
// what the sanitizer removed.
func (c *Conversation) User(text string) *SanitizeReport {
	clean, rep := c.sanitizer.Sanitize(text)
	c.turns = append(c.turns, turn{kind: turnUserText, text: clean})
	return rep
}

// Assistant adds a reply of the model.
func (c *Conversation) Assistant(text string) {
	c.turns = append(c.turns, turn{kind: turnAssistantText, text: text})
}

// ToolCall adds a tool call the model made (after the guard allowed it).
func (c *Conversation) ToolCall(call ToolCall) {
	c.turns = append(c.turns, turn{kind: turnToolCall, call: call})
}

// ToolResult adds a tool's result for the call with callID, sanitized, as a
// tool-result block (never as user text), and returns what the sanitizer
// removed. isError marks a failed call.
func (c *Conversation) ToolResult(callID, content string, isError bool) *SanitizeReport {
	clean, rep := c.sanitizer.Sanitize(content)
	c.turns = append(c.turns, turn{kind: turnToolResult, text: clean, call: ToolCall{ID: callID}, isError: isError})
	return rep
}

// AnthropicRequest is the body of a Messages API request
// (POST /v1/messages).
type AnthropicRequest struct {
	Model     string             `json:"model"`
	MaxTokens int                `json:"max_tokens"`
	System    string             `json:"system,omitempty"`
	Messages  []AnthropicMessage `json:"messages"`
}

// AnthropicMessage is one message: role "user" or "assistant" and its
// content blocks.
type AnthropicMessage struct {
	Role    string           `json:"role"`
	Content []AnthropicBlock `json:"content"`
}

// AnthropicBlock is a content block: "text", "tool_use" or "tool_result".
type AnthropicBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   string          `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
}

// Anthropic encodes the conversation for the Messages API. The system
// prompt is the top-level "system"; consecutive turns of one role share a
// message (the API wants roles to alternate) but keep separate blocks, and a
// user message lists its tool_result blocks first, as the API requires.
func (c *Conversation) Anthropic(model string, maxTokens int) *AnthropicRequest {
	req := &AnthropicRequest{Model: model, MaxTokens: maxTokens, System: c.system, Messages: []AnthropicMessage{}}
	for _, t := range c.turns {
		var role string
		var b AnthropicBlock
		switch t.kind {
		case turnUserText:
			role, b = "user", AnthropicBlock{Type: "text", Text: t.text}
		case turnAssistantText:
			role, b = "assistant", AnthropicBlock{Type: "text", Text: t.text}
		case turnToolCall:
			role, b = "assistant", AnthropicBlock{Type: "tool_use", ID: t.call.ID, Name: t.call.Name, Input: objectOrEmpty(t.call.Args)}
		case turnToolResult:
			role, b = "user", AnthropicBlock{Type: "tool_result", ToolUseID: t.call.ID, Content: t.text, IsError: t.isError}
		}
		n := len(req.Messages)
		if n == 0 || req.Messages[n-1].Role != role {
			req.Messages = append(req.Messages, AnthropicMessage{Role: role})
			n++
		}
		m := &req.Messages[n-1]
		if b.Type == "tool_result" {
			// Insert after the existing tool_result blocks, before any text.
			i := 0
			for i < len(m.Content) && m.Content[i].Type == "tool_result" {
				i++
			}
			m.Content = append(m.Content[:i], append([]AnthropicBlock{b}, m.Content[i:]...)...)
		} else {
			m.Content = append(m.Content, b)
		}
	}
	return req
}

func objectOrEmpty(args json.RawMessage) json.RawMessage {
	if len(args) == 0 {
		return json.RawMessage(`{}`)
	}
	return args
}

// OpenAIRequest is the body of a Chat Completions request
// (POST /v1/chat/completions).
type OpenAIRequest struct {
	Model    string          `json:"model"`
	Messages []OpenAIMessage `json:"messages"`
}

// OpenAIMessage is one chat message: role "system", "user", "assistant" or
// "tool".
type OpenAIMessage struct {
	Role       string           `json:"role"`
	Content    *string          `json:"content"`
	ToolCalls  []OpenAIToolCall `json:"tool_calls,omitempty"`
	ToolCallID string           `json:"tool_call_id,omitempty"`
}

// OpenAIToolCall is a function call of an assistant message.
type OpenAIToolCall struct {
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	Function OpenAIFunction `json:"function"`
}

// OpenAIFunction names the function and carries its arguments as a JSON
// string, as the API does.
type OpenAIFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// OpenAI encodes the conversation for Chat Completions: the system prompt
// is the one "system" message; each user turn is its own "user" message and
// each tool result its own "tool" message; an assistant's text and tool
// calls share one "assistant" message.
func (c *Conversation) OpenAI(model string) *OpenAIRequest {
	req := &OpenAIRequest{Model: model, Messages: []OpenAIMessage{}}
	if c.system != "" {
		req.Messages = append(req.Messages, OpenAIMessage{Role: "system", Content: ptr(c.system)})
	}
	for _, t := range c.turns {
		switch t.kind {
		case turnUserText:
			req.Messages = append(req.Messages, OpenAIMessage{Role: "user", Content: ptr(t.text)})
		case turnAssistantText:
			req.Messages = append(req.Messages, OpenAIMessage{Role: "assistant", Content: ptr(t.text)})
		case turnToolCall:
			tc := OpenAIToolCall{ID: t.call.ID, Type: "function", Function: OpenAIFunction{Name: t.call.Name, Arguments: string(objectOrEmpty(t.call.Args))}}
			if n := len(req.Messages); n > 0 && req.Messages[n-1].Role == "assistant" {
				req.Messages[n-1].ToolCalls = append(req.Messages[n-1].ToolCalls, tc)
				continue
			}
			req.Messages = append(req.Messages, OpenAIMessage{Role: "assistant", ToolCalls: []OpenAIToolCall{tc}})
		case turnToolResult:
			req.Messages = append(req.Messages, OpenAIMessage{Role: "tool", ToolCallID: t.call.ID, Content: ptr(t.text)})
		}
	}
	return req
}

func ptr(s string) *string { return &s }
