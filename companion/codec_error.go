package companion

import (
	"errors"
	"strconv"
)

// BodyErrorCode says why a PUBLISH body was refused. The codec knows no
// SIP; only the SIP edge turns codes into statuses. The status after each
// code is what a stock Asterisk (res_pjsip_publish_asterisk, with
// device_state and mailbox_state set to yes) answers the same request, so
// that a companion receiver can answer alike, except where a comment says
// the companion answers otherwise.
type BodyErrorCode uint8

const (
	BodyNone BodyErrorCode = iota // not a body error (nil or another error)

	BodyTooLarge        // 413, the companion's own: Asterisk sets no body limit beyond pjsip's packet size
	BodyNotJSON         // 500: jansson cannot load it as one JSON object
	BodyMissingEID      // 500: "eid" missing or not a string
	BodyBadEID          // 200: Asterisk keeps it under a garbled EID; the companion drops it and counts it
	BodyMissingType     // 500: "type" missing or not a string
	BodyUnknownType     // 500: "type" neither devicestate, mailboxstate nor refresh
	BodyWrongEvent      // 500: devicestate on asterisk-mwi, mailboxstate on asterisk-devicestate
	BodyBadEvent        // 489: Event neither asterisk-devicestate nor asterisk-mwi
	BodyMissingDevice   // 500: "device" missing, not a string or empty
	BodyMissingState    // 500: "state" missing, not a string or empty
	BodyMissingUniqueID // 500: "uniqueid" missing or not a string or empty; Asterisk takes an empty box ("@ctx"), the companion does not
	BodyBadCount        // 200: Asterisk reads a bad "old"/"new" as (int) or 0; the companion answers 200 too but drops the body rather than guess a count
	BodyBadName         // 500, the companion's own: a device or uniqueid that fails CheckName (control characters, over MaxNameLen); Asterisk takes any bytes
)

var bodyErrorCodeNames = [...]string{
	BodyNone:            "none",
	BodyTooLarge:        "too_large",
	BodyNotJSON:         "not_json",
	BodyMissingEID:      "missing_eid",
	BodyBadEID:          "bad_eid",
	BodyMissingType:     "missing_type",
	BodyUnknownType:     "unknown_type",
	BodyWrongEvent:      "wrong_event",
	BodyBadEvent:        "bad_event",
	BodyMissingDevice:   "missing_device",
	BodyMissingState:    "missing_state",
	BodyMissingUniqueID: "missing_uniqueid",
	BodyBadCount:        "bad_count",
	BodyBadName:         "bad_name",
}

// String is a short identifier, usable as a log field or metric label.
func (c BodyErrorCode) String() string {
	if int(c) < len(bodyErrorCodeNames) {
		return bodyErrorCodeNames[c]
	}
	return "BodyErrorCode(" + strconv.Itoa(int(c)) + ")"
}

// BodyError is the error DecodeMessage returns for a body it refuses.
type BodyError struct {
	Code   BodyErrorCode
	Detail string // human-readable, for logs
}

func (e *BodyError) Error() string {
	if e.Detail == "" {
		return "publish body: " + e.Code.String()
	}
	return "publish body: " + e.Code.String() + ": " + e.Detail
}

// BodyErrorCodeOf returns the code of the BodyError in err's chain, or
// BodyNone for nil and for any other error.
func BodyErrorCodeOf(err error) BodyErrorCode {
	var e *BodyError
	if errors.As(err, &e) {
		return e.Code
	}
	return BodyNone
}

func bodyErr(code BodyErrorCode, detail string) *BodyError {
	return &BodyError{Code: code, Detail: detail}
}
