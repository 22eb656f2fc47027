package kafka

// DescribeCluster: v0-v2 (KIP-700; v1 endpoint types, v2 fenced brokers).
//
// Answers with the brokers the client is shown in Metadata (cluster.go:
// the live brokers of its zone, with their advertised hosts, ports and
// zones as racks), the cluster id, and the first of them as controller
// (Sluice has none). The cluster's
// authorized operations are reported only when asked for, and then as
// every cluster operation (no authorizer): CREATE, ALTER, DESCRIBE,
// CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
//
// v1+: an EndpointType other than 1 (brokers) is UNSUPPORTED_ENDPOINT_TYPE,
// as a Kafka broker answers a request for controller endpoints: Sluice
// has no separate controllers.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeCluster.Int16(), 0, -1, handleDescribeCluster) }

// clusterAuthorizedOperations is the bit field of every operation Kafka
// allows on the cluster resource.
const clusterAuthorizedOperations = 1<<int32(kmsg.ACLOperationCreate) |
	1<<int32(kmsg.ACLOperationAlter) |
	1<<int32(kmsg.ACLOperationDescribe) |
	1<<int32(kmsg.ACLOperationClusterAction) |
	1<<int32(kmsg.ACLOperationDescribeConfigs) |
	1<<int32(kmsg.ACLOperationAlterConfigs) |
	1<<int32(kmsg.ACLOperationIdempotentWrite)

func handleDescribeCluster(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)

	if req.Version >= 1 {
		resp.EndpointType = req.EndpointType
		if req.EndpointType != 1 {
			resp.ErrorCode = kerr.UnsupportedEndpointType.Code
			msg := "Sluice brokers only answer for broker endpoints (endpoint type 1): there are no separate controllers"
			resp.ErrorMessage = &msg
			r.Respond(resp)
			return nil
		}
	}
	v := s.clientView(r)
	for _, p := range v.brokers {
		mb := brokerEntry(p)
		b := kmsg.NewDescribeClusterResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = mb.NodeID, mb.Host, mb.Port, mb.Rack
		resp.Brokers = append(resp.Brokers, b)
	}
	resp.ClusterID = s.cfg.ClusterID
	resp.ControllerID = v.brokers[0].NodeID
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterAuthorizedOperations
	}
	r.Respond(resp)
	return nil
}
