package whatsapp

import "encoding/json"

// Envelope is the body Meta POSTs for every WhatsApp webhook field. Entries,
// changes and the items inside a value stay raw until their turn, so one
// malformed element becomes one unknown event instead of failing the rest of
// a batch of up to 1000 updates.
type Envelope struct {
	Object FlexString        `json:"object"`
	Entry  []json.RawMessage `json:"entry"`
}

// Entry is one WhatsApp Business Account's part of a delivery. Time is when
// Meta sent the notification (unix seconds), often absent on "messages".
type Entry struct {
	ID      FlexString        `json:"id"`
	Time    FlexInt           `json:"time"`
	Changes []json.RawMessage `json:"changes"`
}

// Change is one update; Field says how to read Value.
type Change struct {
	Field FlexString      `json:"field"`
	Value json.RawMessage `json:"value"`
}

// metadata names the business phone number a messages value is about.
type metadata struct {
	DisplayPhoneNumber FlexString `json:"display_phone_number"`
	PhoneNumberID      FlexString `json:"phone_number_id"`
}

// contact is one contacts[] item. Since WhatsApp usernames (2026) a contact
// may carry a business-scoped user id (user_id), its portfolio-level parent
// (parent_user_id) and a username, with or without a wa_id.
type contact struct {
	Profile struct {
		Name     FlexString `json:"name"`
		Username FlexString `json:"username"`
	} `json:"profile"`
	WaID         FlexString `json:"wa_id"`
	UserID       FlexString `json:"user_id"`
	ParentUserID FlexString `json:"parent_user_id"`
	Username     FlexString `json:"username"`
}

// messagesValue is the value of the "messages" field, and of
// "user_preferences", which shares its metadata and contacts.
type messagesValue struct {
	Metadata        metadata          `json:"metadata"`
	Contacts        []contact         `json:"contacts"`
	Messages        []json.RawMessage `json:"messages"`
	Statuses        []json.RawMessage `json:"statuses"`
	Errors          []json.RawMessage `json:"errors"`
	UserPreferences []json.RawMessage `json:"user_preferences"`
}

// apiError is the error object of statuses[].errors, messages[].errors and
// value.errors. Webhooks of v15 and older carry only code and title.
type apiError struct {
	Code      FlexInt    `json:"code"`
	Title     FlexString `json:"title"`
	Message   FlexString `json:"message"`
	ErrorData struct {
		Details FlexString `json:"details"`
	} `json:"error_data"`
	Href FlexString `json:"href"`
}

type status struct {
	ID                     FlexString    `json:"id"`
	Status                 FlexString    `json:"status"`
	Timestamp              FlexString    `json:"timestamp"`
	RecipientID            FlexString    `json:"recipient_id"`
	RecipientUserID        FlexString    `json:"recipient_user_id"`
	RecipientParentUserID  FlexString    `json:"recipient_parent_user_id"`
	RecipientType          FlexString    `json:"recipient_type"`
	RecipientParticipantID FlexString    `json:"recipient_participant_id"`
	BizOpaqueCallbackData  FlexString    `json:"biz_opaque_callback_data"`
	Conversation           *conversation `json:"conversation"`
	Pricing                *pricing      `json:"pricing"`
	Errors                 []apiError    `json:"errors"`
}

type conversation struct {
	ID                  FlexString `json:"id"`
	ExpirationTimestamp FlexString `json:"expiration_timestamp"`
	Origin              struct {
		Type FlexString `json:"type"`
	} `json:"origin"`
}

type pricing struct {
	Billable     FlexString `json:"billable"`
	PricingModel FlexString `json:"pricing_model"`
	Type         FlexString `json:"type"`
	Category     FlexString `json:"category"`
}

type media struct {
	MimeType FlexString `json:"mime_type"`
	Caption  FlexString `json:"caption"`
}

type message struct {
	From             FlexString          `json:"from"`
	FromUserID       FlexString          `json:"from_user_id"`
	FromParentUserID FlexString          `json:"from_parent_user_id"`
	ID               FlexString          `json:"id"`
	Timestamp        FlexString          `json:"timestamp"`
	Type             FlexString          `json:"type"`
	Context          *messageContext     `json:"context"`
	Referral         *messageReferral    `json:"referral"`
	Text             *messageText        `json:"text"`
	Button           *messageButton      `json:"button"`
	Interactive      *messageInteractive `json:"interactive"`
	Reaction         *messageReaction    `json:"reaction"`
	Image            *media              `json:"image"`
	Video            *media              `json:"video"`
	Audio            *media              `json:"audio"`
	Document         *media              `json:"document"`
	Sticker          *media              `json:"sticker"`
	System           *messageSystem      `json:"system"`
	Unsupported      *messageUnsupported `json:"unsupported"`
	Errors           []apiError          `json:"errors"`
}

type messageContext struct {
	From       FlexString `json:"from"`
	FromUserID FlexString `json:"from_user_id"`
	ID         FlexString `json:"id"`
	Forwarded  FlexString `json:"forwarded"`
}

type messageReferral struct {
	SourceType FlexString `json:"source_type"`
	SourceID   FlexString `json:"source_id"`
}

type messageText struct {
	Body FlexString `json:"body"`
}

type messageButton struct {
	Text    FlexString `json:"text"`
	Payload FlexString `json:"payload"`
}

type messageInteractive struct {
	Type        FlexString    `json:"type"`
	ButtonReply *replyIDTitle `json:"button_reply"`
	ListReply   *replyIDTitle `json:"list_reply"`
}

type replyIDTitle struct {
	ID    FlexString `json:"id"`
	Title FlexString `json:"title"`
}

type messageReaction struct {
	MessageID FlexString `json:"message_id"`
	Emoji     FlexString `json:"emoji"`
}

type messageSystem struct {
	Body     FlexString `json:"body"`
	WaID     FlexString `json:"wa_id"`
	UserID   FlexString `json:"user_id"`
	NewWaID  FlexString `json:"new_wa_id"` // older shape of user_changed_number
	Type     FlexString `json:"type"`
	Customer FlexString `json:"customer"`
}

type messageUnsupported struct {
	Type FlexString `json:"type"`
}

// media returns whichever media object the message carries.
func (m *message) media() *media {
	for _, x := range []*media{m.Image, m.Video, m.Audio, m.Document, m.Sticker} {
		if x != nil {
			return x
		}
	}
	return nil
}

type userPreference struct {
	WaID      FlexString `json:"wa_id"`
	UserID    FlexString `json:"user_id"`
	Detail    FlexString `json:"detail"`
	Category  FlexString `json:"category"`
	Value     FlexString `json:"value"`
	Timestamp FlexString `json:"timestamp"`
}

type accountUpdate struct {
	Event       FlexString `json:"event"`
	PhoneNumber FlexString `json:"phone_number"` // legacy shape
	Country     FlexString `json:"country"`
	BanInfo     *struct {
		WabaBanState FlexList   `json:"waba_ban_state"`
		WabaBanDate  FlexString `json:"waba_ban_date"`
	} `json:"ban_info"`
	ViolationInfo *struct {
		ViolationType FlexString `json:"violation_type"`
	} `json:"violation_info"`
	RestrictionInfo []struct {
		RestrictionType FlexString `json:"restriction_type"`
		Expiration      FlexInt    `json:"expiration"`
	} `json:"restriction_info"`
	DisconnectionInfo *struct {
		Reason      FlexString `json:"reason"`
		InitiatedBy FlexString `json:"initiated_by"`
	} `json:"disconnection_info"`
	WabaInfo *struct {
		WabaID          FlexString `json:"waba_id"`
		OwnerBusinessID FlexString `json:"owner_business_id"`
		PartnerAppID    FlexString `json:"partner_app_id"`
		SolutionID      FlexString `json:"solution_id"`
	} `json:"waba_info"`
	PartnerClientCertificationInfo *struct {
		ClientBusinessID FlexString `json:"client_business_id"`
		Status           FlexString `json:"status"`
		RejectionReasons FlexList   `json:"rejection_reasons"`
	} `json:"partner_client_certification_info"`
	VolumeTierInfo *struct {
		TierUpdateTime  FlexString `json:"tier_update_time"`
		PricingCategory FlexString `json:"pricing_category"`
		Tier            FlexString `json:"tier"`
		EffectiveMonth  FlexString `json:"effective_month"`
		Region          FlexString `json:"region"`
	} `json:"volume_tier_info"`
}

type alertInfo struct {
	AlertSeverity    FlexString `json:"alert_severity"`
	AlertStatus      FlexString `json:"alert_status"`
	AlertType        FlexString `json:"alert_type"`
	AlertDescription FlexString `json:"alert_description"`
}

// accountAlert is Meta's nesting under alert_info; the embedded alertInfo
// also reads the flat shape some libraries and relays produce.
type accountAlert struct {
	EntityType FlexString `json:"entity_type"`
	EntityID   FlexString `json:"entity_id"`
	AlertInfo  *alertInfo `json:"alert_info"`
	alertInfo
}

type reviewUpdate struct {
	Decision FlexString `json:"decision"`
}

type securityUpdate struct {
	DisplayPhoneNumber FlexString `json:"display_phone_number"`
	Event              FlexString `json:"event"`
	Requester          FlexString `json:"requester"`
}

// capabilityUpdate: Meta's table says TIER_* strings, its example numbers.
type capabilityUpdate struct {
	MaxDailyConversationPerPhone     FlexString `json:"max_daily_conversation_per_phone"`
	MaxDailyConversationsPerBusiness FlexString `json:"max_daily_conversations_per_business"`
	MaxPhoneNumbersPerBusiness       FlexString `json:"max_phone_numbers_per_business"`
	MaxPhoneNumbersPerWABA           FlexString `json:"max_phone_numbers_per_waba"`
}

type nameUpdate struct {
	DisplayPhoneNumber    FlexString `json:"display_phone_number"`
	Decision              FlexString `json:"decision"`
	RequestedVerifiedName FlexString `json:"requested_verified_name"`
	RejectionReason       FlexString `json:"rejection_reason"`
}

type qualityUpdate struct {
	DisplayPhoneNumber               FlexString `json:"display_phone_number"`
	Event                            FlexString `json:"event"`
	CurrentLimit                     FlexString `json:"current_limit"`
	OldLimit                         FlexString `json:"old_limit"`
	MaxDailyConversationsPerBusiness FlexString `json:"max_daily_conversations_per_business"`
}

// templateValue is the union of the four template fields' values: Meta has
// sent a quality update under the status field, so the shape decides.
type templateValue struct {
	Event        FlexString `json:"event"`
	TemplateID   FlexString `json:"message_template_id"`
	TemplateName FlexString `json:"message_template_name"`
	TemplateLang FlexString `json:"message_template_language"`
	TemplateCat  FlexString `json:"message_template_category"`
	Reason       FlexString `json:"reason"`
	DisableInfo  *struct {
		DisableDate FlexString `json:"disable_date"`
	} `json:"disable_info"`
	OtherInfo *struct {
		Title       FlexString `json:"title"`
		Description FlexString `json:"description"`
	} `json:"other_info"`
	RejectionInfo *struct {
		Reason         FlexString `json:"reason"`
		Recommendation FlexString `json:"recommendation"`
	} `json:"rejection_info"`

	PreviousQualityScore FlexString `json:"previous_quality_score"`
	NewQualityScore      FlexString `json:"new_quality_score"`

	PreviousCategory        FlexString `json:"previous_category"`
	NewCategory             FlexString `json:"new_category"`
	CorrectCategory         FlexString `json:"correct_category"`
	CategoryUpdateTimestamp FlexString `json:"category_update_timestamp"`

	Element FlexString      `json:"message_template_element"`
	Title   FlexString      `json:"message_template_title"`
	Footer  FlexString      `json:"message_template_footer"`
	Buttons json.RawMessage `json:"message_template_buttons"`
}
