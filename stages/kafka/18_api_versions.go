package kafka

// ApiVersions: v0-v4 (and whatever newer kmsg knows).
//
// The answer is built from the handler registry: every API that has a
// handler file is listed with the versions it serves. A request of a
// version we do not know is answered at v0 with UNSUPPORTED_VERSION and the
// list, as KIP-511 asks, so the client can retry with a version we know.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ApiVersions.Int16(), 0, -1, handleAPIVersions) }

func apiVersionsResponse() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	for _, h := range supportedKeys() {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = h.key, h.minVersion, h.maxVersion
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return resp
}

func handleAPIVersions(s *Server, r *Request) error {
	resp := apiVersionsResponse()
	r.Respond(resp)
	return nil
}
