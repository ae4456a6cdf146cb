package plugin

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// IssuedCode is a reset code for a support agent to read to a user over
// the phone. The two halves travel apart: the agent sends URL (it opens
// the code form for this flow and is worthless alone) and reads Code
// aloud. The usual limits apply: code_attempts wrong codes lock the flow.
type IssuedCode struct {
	// Code is the 8-digit code, grouped as in the mail ("1234 5678").
	Code string `json:"code"`
	// FlowID identifies the flow, for portals that call POST verify.
	FlowID string `json:"flow_id"`
	// URL opens the code form for this flow.
	URL string `json:"url"`
	// ExpiresAt is when the code stops working (RFC 3339).
	ExpiresAt string `json:"expires_at"`
}

// IssueResetCode opens a reset flow for a user and returns its code
// instead of mailing it, for a support agent on the phone (the admin
// endpoint's reset-code route, `caddy password-reset issue --code`). The
// role allow-list applies as for IssueResetToken.
func (e *Engine) IssueResetCode(ctx context.Context, userID, actor string) (*IssuedCode, *PublicError) {
	res, err := e.issueResetCode(ctx, userID, actor)
	if err != nil {
		e.logError(nil, err)
		return nil, err.Public()
	}
	return res, nil
}

func (e *Engine) issueResetCode(ctx context.Context, userID, actor string) (*IssuedCode, *apiError) {
	if !e.methodEnabled(MethodCode) {
		return nil, newError(http.StatusConflict, CodeCodesDisabled, "codes are not among the configured methods", "")
	}
	user, apiErr := e.adminTarget(ctx, userID, actor, "reset codes")
	if apiErr != nil {
		return nil, apiErr
	}
	flowID, err := newToken()
	if err != nil {
		return nil, internalError(err)
	}
	code, err := newCode()
	if err != nil {
		return nil, internalError(err)
	}
	now := e.now()
	flow := flowRecord{
		User: user, Identifier: user.Email, CreatedAt: now, ExpiresAt: now.Add(e.cfg.CodeTTL),
		CodeMAC: e.keys.codeMAC(flowID, code), CodeExpiry: now.Add(e.cfg.CodeTTL),
	}
	if err := e.putRecord(ctx, e.keys.flowKey(flowID), flow, e.cfg.CodeTTL, e.keys.ownerKey(user.ID)); err != nil {
		return nil, storeUnavailable(err)
	}
	e.audit(zapcore.InfoLevel, "admin issued a reset code", "admin_issue", MethodCode, zap.String("actor", actor), zap.String("user_id", user.ID))
	return &IssuedCode{
		Code:      code[:4] + " " + code[4:],
		FlowID:    flowID,
		URL:       e.link("/sent", url.Values{"flow": {flowID}}),
		ExpiresAt: flow.CodeExpiry.UTC().Format(time.RFC3339),
	}, nil
}
