package slack

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
)

// metadataEventType marks the messages wabridge posts, in Slack's message
// metadata, so one can be found again after a crash.
const metadataEventType = "wabridge_notification"

// Bounds of a look-up: pages of conversations.history and of
// conversations.list.
const (
	findPageSize = 200
	findMaxPages = 5
)

var _ notifiers.Finder = (*Notifier)(nil)

// metadata names the notification and its incident on the message.
func metadata(nt *notification.Notification) goslack.SlackMetadata {
	payload := map[string]any{"notification": nt.ID, "rule": nt.Rule.Name}
	if nt.Incident != nil {
		payload["fingerprint"] = nt.Incident.Fingerprint
	}
	return goslack.SlackMetadata{EventType: metadataEventType, EventPayload: payload}
}

// FindWindow is how long a post may still land after it was sent: Slack
// may finish a request the client gave up on.
func (n *Notifier) FindWindow() time.Duration {
	if n.api == nil {
		return 0 // an incoming webhook's messages cannot be read back
	}
	return n.cfg.Timeout + 5*time.Second
}

// Find looks in the channel's history since since for the message an
// earlier send of nt posted, by its metadata. It needs the channels:history
// scope (groups:history for private channels), and channels:read to turn a
// channel name into its ID when no post to it succeeded since the start.
func (n *Notifier) Find(ctx context.Context, nt *notification.Notification, since time.Time) (notification.Result, bool, error) {
	if n.api == nil || nt == nil {
		return notification.Result{}, false, nil
	}
	channel := n.channel(nt)
	id, err := n.channelID(ctx, channel)
	if err != nil {
		return notification.Result{}, false, err
	}
	params := &goslack.GetConversationHistoryParameters{
		ChannelID:          id,
		Oldest:             strconv.FormatFloat(float64(since.UnixMicro())/1e6, 'f', 6, 64),
		Limit:              findPageSize,
		IncludeAllMetadata: true,
	}
	for range findMaxPages {
		h, err := n.api.GetConversationHistoryContext(ctx, params)
		if err != nil {
			return notification.Result{}, false, n.classified(nt, "read the history of "+channel, channel, err)
		}
		for _, m := range h.Messages {
			md := m.Metadata
			if md.EventType == metadataEventType && fmt.Sprint(md.EventPayload["notification"]) == nt.ID {
				return notification.Result{Ref: id + "/" + m.Timestamp}, true, nil
			}
		}
		if !h.HasMore || h.ResponseMetaData.NextCursor == "" {
			break
		}
		params.Cursor = h.ResponseMetaData.NextCursor
	}
	return notification.Result{}, false, nil
}

// channelIDPattern is what Slack's conversation IDs look like.
var channelIDPattern = regexp.MustCompile(`^[CGD][A-Z0-9]{6,}$`)

// channelID turns a channel name into its ID: conversations.history takes
// only IDs, chat.postMessage names too.
func (n *Notifier) channelID(ctx context.Context, channel string) (string, error) {
	if channelIDPattern.MatchString(channel) {
		return channel, nil
	}
	if id, ok := n.channels.Load(channel); ok {
		return id.(string), nil
	}
	name := strings.TrimPrefix(channel, "#")
	params := &goslack.GetConversationsParameters{ExcludeArchived: true, Limit: findPageSize,
		Types: []string{"public_channel", "private_channel"}}
	for range findMaxPages * 10 {
		chs, cursor, err := n.api.GetConversationsContext(ctx, params)
		if err != nil {
			return "", n.classified(&notification.Notification{}, "list channels to find "+channel, channel, err)
		}
		for _, c := range chs {
			if c.Name == name {
				n.channels.Store(channel, c.ID)
				return c.ID, nil
			}
		}
		if cursor == "" {
			break
		}
		params.Cursor = cursor
	}
	return "", errors.New("slack: channel " + channel + " is not among the channels the bot can see")
}
