package kafka

// InitProducerId: v0-v5, for idempotent (non-transactional) producers.
//
// A new producer (ProducerID -1) gets a fresh id from the metadata store,
// never reused, at epoch 0. KIP-360 (v3+): a producer that sends its
// current id and epoch has its epoch bumped (the store fences the old
// epoch); a stale epoch is INVALID_PRODUCER_EPOCH, an epoch that would
// reach the top of the int16 range gets a new id at epoch 0 instead, as
// Kafka does. Sending only one of id and epoch is INVALID_REQUEST.
//
// Transactions are not supported yet. A transactional id is answered with
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED: it is not retriable, so franz-go
// (and the Java client) fail the transactional producer at once with an
// error naming the transactional id, instead of retrying a coordinator
// error forever or suggesting a client version problem as
// UNSUPPORTED_VERSION would. An empty transactional id is INVALID_REQUEST,
// as in Kafka. The broker logs a warning saying transactions are
// unsupported.

import (
	"errors"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
)

func init() { register(kmsg.InitProducerID.Int16(), 0, -1, handleInitProducerID) }

func handleInitProducerID(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1

	switch {
	case req.TransactionalID != nil && *req.TransactionalID == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
	case req.TransactionalID != nil:
		s.log.Warn("refused a transactional producer: transactions are not supported", "transactional_id", *req.TransactionalID, "client", r.ClientID())
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	case req.Version < 3 || (req.ProducerID == -1 && req.ProducerEpoch == -1):
		s.newProducerID(r, resp)
	case req.ProducerID < 0 || req.ProducerEpoch < 0:
		resp.ErrorCode = kerr.InvalidRequest.Code
	case req.ProducerEpoch >= math.MaxInt16-1:
		// Bumping would exhaust the epoch: start over with a new id.
		s.newProducerID(r, resp)
	default:
		epoch, err := s.cfg.Meta.BumpProducerEpoch(r.Ctx, req.ProducerID, req.ProducerEpoch)
		switch {
		case err == nil:
			resp.ProducerID, resp.ProducerEpoch = req.ProducerID, epoch
		case errors.Is(err, meta.ErrInvalidProducerEpoch):
			resp.ErrorCode = kerr.InvalidProducerEpoch.Code
		default:
			resp.ErrorCode = errorCode(err)
		}
	}
	r.Respond(resp)
	return nil
}

func (s *Server) newProducerID(r *Request, resp *kmsg.InitProducerIDResponse) {
	id, err := s.cfg.Meta.NextProducerID(r.Ctx)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
}
