package provision

import (
	"errors"
	"fmt"
	"strings"

	"github.com/astcompanion/sidecar/companion"
)

// ExplainError says what went wrong in Asterisk's terms and what
// to do about it. ariUser is the ARI user name, for messages about
// credentials. Secrets are masked.
func ExplainError(err error, ariUser string) string {
	var pe *Error
	var se *StoreError
	if !errors.As(err, &se) {
		return err.Error()
	}
	var step Step
	if errors.As(err, &pe) {
		step = pe.Step
	}
	key := se.Key
	asterisk := fmt.Sprintf("%d %q", se.Status, se.Message)
	var b strings.Builder
	switch {
	case errors.Is(se, companion.ErrARIUnreachable):
		fmt.Fprintf(&b, "no answer from ARI at %s: %v.\n", se.Where, se.Err)
		b.WriteString("Check that Asterisk runs, that http.conf has enabled = yes with this bindaddr and bindport,\n" +
			"and that ari.conf has enabled = yes; [ari] url must name that address and end in /ari.")
	case errors.Is(se, companion.ErrARIUnauthorized):
		fmt.Fprintf(&b, "ARI refused the credentials of user %q (%s).\n", ariUser, asterisk)
		fmt.Fprintf(&b, "Check [ari] username and password against the [%s] section of ari.conf (type = user, password, password_format).", ariUser)
	case errors.Is(se, ErrReadOnly):
		explainReadOnly(&b, se, ariUser)
	case errors.Is(se, ErrRejected):
		fmt.Fprintf(&b, "Asterisk refused a field name or value of %s (%s).\n", key, asterisk)
		if strings.Contains(se.Message, "failed field value validation") {
			b.WriteString("Asterisk's message does not say which field: check each name and value against this\n" +
				"Asterisk version's documentation of the " + key.Type + " object (a userpass auth also needs a password).\n")
		}
		if len(step.Send) > 0 {
			b.WriteString("Fields sent: " + fieldsText(step.Send))
		}
	case errors.Is(se, ErrUnknownType):
		fmt.Fprintf(&b, "Asterisk does not know %s/%s (%s).\n", key.Class, key.Type, asterisk)
		b.WriteString("Check class and type (identify and asterisk-publication are in class res_pjsip too),\n" +
			"and that the module that provides the type is loaded.")
	case se.Status == 503:
		fmt.Fprintf(&b, "Asterisk answered %s to %s %s: it has not finished booting; run again in a moment.", asterisk, se.Op, key)
	case se.Status != 0:
		fmt.Fprintf(&b, "Asterisk answered %s to %s %s; see the Asterisk log for the cause.", asterisk, se.Op, key)
	default:
		fmt.Fprintf(&b, "%v.", se)
	}
	return strings.TrimRight(b.String(), "\n")
}

func explainReadOnly(b *strings.Builder, se *StoreError, ariUser string) {
	key := se.Key
	asterisk := fmt.Sprintf("%d %q", se.Status, se.Message)
	switch {
	case strings.Contains(se.Message, "Write access denied"):
		fmt.Fprintf(b, "the ARI user %q may only read (%s): set read_only = no for it in ari.conf.", ariUser, asterisk)
	case strings.HasPrefix(se.Message, "Cannot create"):
		fmt.Fprintf(b, "Asterisk cannot create %s (%s): sorcery.conf gives %s objects only the\n", key, asterisk, key.Type)
		b.WriteString("read-only config wizard (pjsip.conf). Map the type to a writable wizard (astdb, memory or realtime)\n" +
			"in sorcery.conf and restart Asterisk:\n\n")
		b.WriteString(SorceryConfLines(key.Class, key.Type))
		b.WriteString("\nThe config line keeps the objects pjsip.conf defines; leave it out if there are none.")
	default: // "Cannot update ..." or "Could not delete object with id ..."
		fmt.Fprintf(b, "Asterisk cannot change %s (%s): this object comes from a read-only\n", key, asterisk)
		b.WriteString("wizard, usually pjsip.conf. Remove it from pjsip.conf (then it lives in the writable wizard,\n" +
			"see below) or remove it from the companion's file. sorcery.conf needs, e.g.:\n\n")
		b.WriteString(SorceryConfLines(key.Class, key.Type))
	}
}

// sorceryConfSection is the sorcery.conf section of types whose module is
// not res_pjsip itself, although ARI's configClass is res_pjsip.
var sorceryConfSection = map[string]string{
	"identify":             "res_pjsip_endpoint_identifier_ip",
	"registration":         "res_pjsip_outbound_registration",
	"outbound-publish":     "res_pjsip_outbound_publish",
	"inbound-publication":  "res_pjsip_pubsub",
	"asterisk-publication": "res_pjsip_publish_asterisk",
}

var astdbFamily = map[string]string{
	"endpoint": "ps_endpoints", "auth": "ps_auths", "aor": "ps_aors", "domain_alias": "ps_domain_aliases",
	"contact": "ps_contacts", "system": "ps_systems", "identify": "ps_endpoint_id_ips",
	"registration": "ps_registrations", "transport": "ps_transports",
}

// SorceryConfLines is the sorcery.conf snippet that lets ARI write objects
// of class/type to astdb, which keeps them across restarts.
func SorceryConfLines(class, typ string) string {
	section := class
	if s, ok := sorceryConfSection[typ]; ok && class == "res_pjsip" {
		section = s
	}
	family, ok := astdbFamily[typ]
	if !ok {
		family = "ps_" + strings.ReplaceAll(typ, "-", "_") + "s"
	}
	return fmt.Sprintf("    [%s]\n    %s = config,pjsip.conf,criteria=type=%s\n    %s = astdb,%s\n", section, typ, typ, typ, family)
}
