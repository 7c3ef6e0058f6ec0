// Package keystonelistener does what Barbican's keystone-listener does: it consumes Keystone's notifications
// from RabbitMQ and, on identity.project.deleted, soft-deletes the project's secrets, containers and orders.
//
// Delivery is at least once: a message is acknowledged only after its deletion has committed (or when it asks
// for nothing), and requeued when the database fails, so a crash or a database outage loses no deletion; the
// deletion is idempotent, so a message delivered twice is harmless. A message that is malformed, of another
// event type, or names no project deletes nothing and is acknowledged (logged), so it cannot block the queue.
package keystonelistener

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/keymanager-io/keymanager/server/store"
)

// EventProjectDeleted is the event type Keystone sends when a project is deleted.
const EventProjectDeleted = "identity.project.deleted"

// Config says where Keystone's notifications are.
type Config struct {
	// URL is the AMQP URL of RabbitMQ, e.g. amqp://user:pass@rabbit:5672/ (oslo's transport_url with amqp://).
	URL string
	// Exchange is Keystone's control exchange ([keystone_notifications] control_exchange): keystone.
	Exchange string
	// Topic is the notification topic ([keystone_notifications] topic): notifications; messages arrive with
	// the routing key <topic>.info.
	Topic string
	// Queue is this server's own durable queue, bound to the exchange: keymanager's servers share it (each
	// message handled once), and it does not take messages from other consumers of Keystone's notifications.
	Queue string
	// Retry is the pause before reconnecting after RabbitMQ went away.
	Retry time.Duration
	// Logger receives what was deleted and why a message was dropped.
	Logger *slog.Logger
}

// Listener consumes Keystone's notifications.
type Listener struct {
	cfg Config
	db  *store.DB
}

// New checks cfg and returns a listener deleting from db.
func New(cfg Config, db *store.DB) (*Listener, error) {
	if cfg.URL == "" {
		return nil, errors.New("keystone listener: no RabbitMQ URL")
	}
	if cfg.Exchange == "" {
		cfg.Exchange = "keystone"
	}
	if cfg.Topic == "" {
		cfg.Topic = "notifications"
	}
	if cfg.Queue == "" {
		cfg.Queue = "keymanager.keystone.notifications"
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Listener{cfg: cfg, db: db}, nil
}

// Run consumes until ctx ends, reconnecting whenever RabbitMQ goes away. ready, when not nil, is called each
// time the queue is bound and consumed.
func (l *Listener) Run(ctx context.Context, ready func()) {
	for ctx.Err() == nil {
		err := l.consume(ctx, ready)
		if ctx.Err() != nil {
			return
		}
		l.cfg.Logger.Error("keystone listener: RabbitMQ connection lost; reconnecting",
			slog.String("error", err.Error()), slog.Duration("retry", l.cfg.Retry))
		select {
		case <-ctx.Done():
		case <-time.After(l.cfg.Retry):
		}
	}
}

func (l *Listener) consume(ctx context.Context, ready func()) error {
	conn, err := amqp.Dial(l.cfg.URL)
	if err != nil {
		// amqp's errors do not carry the URL (and so no password).
		return fmt.Errorf("connecting to RabbitMQ: %w", err)
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("opening a channel: %w", err)
	}
	// The exchange as oslo.messaging declares it (topic, not durable): declaring it differently would fail
	// for whichever side comes second.
	if err := ch.ExchangeDeclare(l.cfg.Exchange, amqp.ExchangeTopic, false, false, false, false, nil); err != nil {
		return fmt.Errorf("declaring exchange %s: %w", l.cfg.Exchange, err)
	}
	if _, err := ch.QueueDeclare(l.cfg.Queue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declaring queue %s: %w", l.cfg.Queue, err)
	}
	key := l.cfg.Topic + ".info"
	if err := ch.QueueBind(l.cfg.Queue, key, l.cfg.Exchange, false, nil); err != nil {
		return fmt.Errorf("binding queue %s to %s/%s: %w", l.cfg.Queue, l.cfg.Exchange, key, err)
	}
	if err := ch.Qos(8, 0, false); err != nil {
		return fmt.Errorf("setting the prefetch count: %w", err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, l.cfg.Queue, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consuming %s: %w", l.cfg.Queue, err)
	}
	l.cfg.Logger.Info("keystone listener: consuming Keystone notifications", slog.String("exchange", l.cfg.Exchange),
		slog.String("routing_key", key), slog.String("queue", l.cfg.Queue))
	if ready != nil {
		ready()
	}
	for d := range deliveries {
		if err := l.handle(ctx, d.Body); err != nil {
			l.cfg.Logger.Error("keystone listener: project deletion failed; the message is requeued",
				slog.String("error", err.Error()))
			_ = d.Nack(false, true)
			// Do not spin on a database that is down: the message comes back after the pause.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("acknowledging a message: %w", err)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("the delivery channel closed")
}

// notification is the part of an oslo.messaging notification read here. messagingv2 wraps it as a JSON string
// in {"oslo.version": "2.0", "oslo.message": "…"}; the older messaging driver sends it as is.
type notification struct {
	EventType string `json:"event_type"`
	Payload   struct {
		ResourceInfo json.RawMessage `json:"resource_info"`
	} `json:"payload"`
}

// handle deletes what body asks for. It returns an error only when the message must be retried (the
// database failed); anything it cannot use is logged and dropped.
func (l *Listener) handle(ctx context.Context, body []byte) error {
	n, ok := parse(body)
	if !ok {
		l.cfg.Logger.Warn("keystone listener: dropped a message that is not an oslo notification")
		return nil
	}
	if n.EventType != EventProjectDeleted {
		return nil
	}
	var project string
	if err := json.Unmarshal(n.Payload.ResourceInfo, &project); err != nil || project == "" || len(project) > 255 {
		l.cfg.Logger.Warn("keystone listener: dropped an identity.project.deleted without a project id")
		return nil
	}
	var done store.ProjectDeletion
	err := l.db.Write(ctx, func(tx *store.Tx) (err error) {
		done, err = tx.DeleteProjectResources(project)
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting the resources of project %s: %w", project, err)
	}
	l.cfg.Logger.Info("keystone listener: project deleted in Keystone", slog.String("project_id", project),
		slog.Int("secrets", done.Secrets), slog.Int("containers", done.Containers), slog.Int("orders", done.Orders))
	return nil
}

func parse(body []byte) (notification, bool) {
	var envelope struct {
		Message *string `json:"oslo.message"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return notification{}, false
	}
	if envelope.Message != nil {
		body = []byte(*envelope.Message)
	}
	var n notification
	if err := json.Unmarshal(body, &n); err != nil || n.EventType == "" {
		return notification{}, false
	}
	return n, true
}
