package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// SecretHeader carries the shared secret configured on the PagerDuty custom
// action / Opsgenie webhook integration.
const SecretHeader = "X-Oncallgate-Secret"

// SignatureHeader is PagerDuty's v3 webhook signature header.
const SignatureHeader = "X-PagerDuty-Signature"

// CheckSecret compares the presented secret with the configured one in
// constant time. An empty configured secret never matches: a route without a
// secret is closed.
func CheckSecret(configured, presented string) bool {
	if configured == "" || presented == "" {
		return false
	}
	// Compare fixed-length digests so the time taken does not depend on
	// where the strings differ or on their lengths.
	a := sha256.Sum256([]byte(configured))
	b := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// VerifySignature checks a PagerDuty v3 signature header
// ("v1=<hex>[,v1=<hex>...]") against the raw body with each signing secret
// (several during rotation). Any match is enough.
func VerifySignature(header string, body []byte, secrets []string) bool {
	if header == "" || len(secrets) == 0 {
		return false
	}
	var macs [][]byte
	for _, s := range secrets {
		if s == "" {
			continue
		}
		m := hmac.New(sha256.New, []byte(s))
		m.Write(body)
		macs = append(macs, m.Sum(nil))
	}
	ok := false
	for _, part := range strings.Split(header, ",") {
		v, found := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !found {
			continue
		}
		sig, err := hex.DecodeString(v)
		if err != nil || len(sig) != sha256.Size {
			continue
		}
		for _, mac := range macs {
			if hmac.Equal(sig, mac) {
				ok = true // keep looping: no early exit on match
			}
		}
	}
	return ok
}
