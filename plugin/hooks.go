package plugin

import "github.com/resetgate/resetgate/plugin/webhook"

func webhookRequest(url string, body []byte, idem string) webhook.Request {
	return webhook.Request{URL: url, Body: body, IdempotencyKey: idem}
}
