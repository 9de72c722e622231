package whatsapp

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/event"
)

// accountUpdate reads "account_update": bans (DISABLED_UPDATE), violations,
// restrictions, partner and offboarding changes, pricing tiers.
func (p *parser) accountUpdate(c *change) error {
	var v accountUpdate
	if err := json.Unmarshal(c.value, &v); err != nil {
		return err
	}
	st := lower(v.Event)
	if c.wabaID == "" && v.WabaInfo != nil {
		c.wabaID = strings.TrimSpace(v.WabaInfo.WabaID.String())
	}
	e := p.base(c, event.KindAccountUpdate, st)
	e.DisplayPhoneNumber = strings.TrimSpace(v.PhoneNumber.String())
	setAttr(&e, "country", v.Country)
	if b := v.BanInfo; b != nil {
		e.SetAttr("ban_state", b.WabaBanState.Join())
		setAttr(&e, "ban_date", b.WabaBanDate)
		e.SetAttr(AttrState, strings.ToLower(b.WabaBanState.Join()))
	}
	if vi := v.ViolationInfo; vi != nil {
		setAttr(&e, "violation_type", vi.ViolationType)
		e.SetAttr(AttrState, lower(vi.ViolationType))
	}
	if len(v.RestrictionInfo) > 0 {
		types := make([]string, 0, len(v.RestrictionInfo))
		var until int64
		for _, r := range v.RestrictionInfo {
			if t := strings.TrimSpace(r.RestrictionType.String()); t != "" {
				types = append(types, t)
			}
			until = max(until, int64(r.Expiration))
		}
		e.SetAttr("restriction_types", strings.Join(types, ","))
		// The latest expiration is when every restriction has lifted.
		if t, ok := unixTime(formatInt(until)); ok {
			e.SetAttr("restriction_expiration", t.Format(time.RFC3339))
		}
	}
	if d := v.DisconnectionInfo; d != nil {
		setAttr(&e, "disconnection_reason", d.Reason)
		setAttr(&e, "initiated_by", d.InitiatedBy)
		e.SetAttr(AttrState, lower(d.Reason))
	}
	if w := v.WabaInfo; w != nil {
		setAttr(&e, "owner_business_id", w.OwnerBusinessID)
		setAttr(&e, "partner_app_id", w.PartnerAppID)
		setAttr(&e, "solution_id", w.SolutionID)
	}
	if pc := v.PartnerClientCertificationInfo; pc != nil {
		setAttr(&e, "client_business_id", pc.ClientBusinessID)
		setAttr(&e, "certification_status", pc.Status)
		e.SetAttr("rejection_reasons", pc.RejectionReasons.Join())
		e.SetAttr(AttrState, lower(pc.Status))
	}
	if vt := v.VolumeTierInfo; vt != nil {
		setAttr(&e, "tier", vt.Tier)
		setAttr(&e, "pricing_category", vt.PricingCategory)
		setAttr(&e, "effective_month", vt.EffectiveMonth)
		setAttr(&e, "region", vt.Region)
		setAttr(&e, "tier_update_time", vt.TierUpdateTime)
	}
	e.Severity = accountUpdateSeverity(st, e.Attr(AttrState))
	e.ID = c.contentID("")
	p.out = append(p.out, e)
	return nil
}

func accountUpdateSeverity(st, state string) event.Severity {
	switch st {
	case "disabled_update":
		if state == "reinstate" {
			return event.SeverityInfo
		}
		// disable, schedule_for_disable, or a state nobody knows yet: a ban
		// notice is read by a person either way.
		return event.SeverityCritical
	case "account_violation", "account_restriction", "partner_removed", "account_offboarded":
		return event.SeverityCritical
	case "account_deleted", "partner_app_uninstalled":
		return event.SeverityWarning
	}
	return event.SeverityInfo
}

// accountAlerts reads "account_alerts": messaging-limit eligibility, OBA
// decisions, a lost profile picture.
func (p *parser) accountAlerts(c *change) error {
	var v accountAlert
	if err := json.Unmarshal(c.value, &v); err != nil {
		return err
	}
	info := v.alertInfo
	if v.AlertInfo != nil {
		info = *v.AlertInfo
	}
	e := p.base(c, event.KindAccountAlert, lower(info.AlertType))
	e.Message = strings.TrimSpace(info.AlertDescription.String())
	// The alert names what it is about; a number's alert is that number's,
	// so it groups apart from the account's other numbers.
	if id := strings.TrimSpace(v.EntityID.String()); id != "" && lower(v.EntityType) == "phone_number" && e.PhoneNumberID == "" {
		e.PhoneNumberID = id
	}
	setAttr(&e, "entity_type", v.EntityType)
	setAttr(&e, "entity_id", v.EntityID)
	setAttr(&e, "alert_severity", info.AlertSeverity)
	setAttr(&e, "alert_status", info.AlertStatus)
	switch lower(info.AlertSeverity) {
	case "critical":
		e.Severity = event.SeverityCritical
	case "warning":
		e.Severity = event.SeverityWarning
	default:
		e.Severity = event.SeverityInfo
	}
	e.ID = c.contentID("")
	p.out = append(p.out, e)
	return nil
}

// accountReview reads "account_review_update": the WABA review decision.
func (p *parser) accountReview(c *change) error {
	var v reviewUpdate
	if err := json.Unmarshal(c.value, &v); err != nil {
		return err
	}
	st := lower(v.Decision)
	e := p.base(c, event.KindAccountAlert, st)
	setAttr(&e, "decision", v.Decision)
	switch st {
	case "rejected":
		e.Severity = event.SeverityCritical // the account cannot message until it passes review
	case "deferred":
		e.Severity = event.SeverityWarning
	default:
		e.Severity = event.SeverityInfo
	}
	e.ID = c.contentID("")
	p.out = append(p.out, e)
	return nil
}

// security reads "security": two-step verification PIN changes.
func (p *parser) security(c *change) error {
	var v securityUpdate
	if err := json.Unmarshal(c.value, &v); err != nil {
		return err
	}
	st := lower(v.Event)
	e := p.base(c, event.KindAccountAlert, st)
	e.DisplayPhoneNumber = strings.TrimSpace(v.DisplayPhoneNumber.String())
	setAttr(&e, "requester", v.Requester)
	// A PIN change nobody planned is how a number gets taken over.
	if st == "pin_changed" || st == "pin_reset_request" {
		e.Severity = event.SeverityWarning
	} else {
		e.Severity = event.SeverityInfo
	}
	e.ID = c.contentID("")
	p.out = append(p.out, e)
	return nil
}

// capabilityUpdate reads "business_capability_update": messaging and
// phone-number limits. The value names no event, so Status is the field.
func (p *parser) capabilityUpdate(c *change) error {
	var v capabilityUpdate
	if err := json.Unmarshal(c.value, &v); err != nil {
		return err
	}
	e := p.base(c, event.KindAccountAlert, "business_capability_update")
	setAttr(&e, "max_daily_conversation_per_phone", v.MaxDailyConversationPerPhone)
	setAttr(&e, "max_daily_conversations_per_business", v.MaxDailyConversationsPerBusiness)
	setAttr(&e, "max_phone_numbers_per_business", v.MaxPhoneNumbersPerBusiness)
	setAttr(&e, "max_phone_numbers_per_waba", v.MaxPhoneNumbersPerWABA)
	e.Severity = event.SeverityInfo
	e.ID = c.contentID("")
	p.out = append(p.out, e)
	return nil
}

// nameUpdate reads "phone_number_name_update": the display-name review.
func (p *parser) nameUpdate(c *change) error {
	var v nameUpdate
	if err := json.Unmarshal(c.value, &v); err != nil {
		return err
	}
	st := lower(v.Decision)
	e := p.base(c, event.KindAccountAlert, st)
	e.DisplayPhoneNumber = strings.TrimSpace(v.DisplayPhoneNumber.String())
	setAttr(&e, "decision", v.Decision)
	setAttr(&e, "requested_verified_name", v.RequestedVerifiedName)
	setAttr(&e, "rejection_reason", v.RejectionReason)
	e.SetAttr(AttrState, lower(v.RejectionReason))
	if st == "rejected" {
		e.Severity = event.SeverityWarning
	} else {
		e.Severity = event.SeverityInfo
	}
	e.ID = c.contentID("")
	p.out = append(p.out, e)
	return nil
}

// qualityUpdate reads "phone_number_quality_update", whose event is an open
// set: current names (onboarding, throughput_upgrade) and legacy ones
// (flagged, unflagged, downgrade, upgrade) still relayed by older accounts.
func (p *parser) qualityUpdate(c *change) error {
	var v qualityUpdate
	if err := json.Unmarshal(c.value, &v); err != nil {
		return err
	}
	st := lower(v.Event)
	e := p.base(c, event.KindQuality, st)
	e.DisplayPhoneNumber = strings.TrimSpace(v.DisplayPhoneNumber.String())
	setAttr(&e, "current_limit", v.CurrentLimit)
	setAttr(&e, "old_limit", v.OldLimit)
	setAttr(&e, "max_daily_conversations_per_business", v.MaxDailyConversationsPerBusiness)
	if st == "flagged" || st == "downgrade" {
		e.Severity = event.SeverityWarning
	} else {
		e.Severity = event.SeverityInfo
	}
	e.ID = c.contentID("")
	p.out = append(p.out, e)
	return nil
}
