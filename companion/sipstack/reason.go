package sipstack

// reasonPhrase is pjsip's phrase for the statuses the edge sends, so that
// an answer reads as a stock Asterisk's does ("500 Server Internal Error").
func reasonPhrase(code int) string {
	switch code {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 407:
		return "Proxy Authentication Required"
	case 412:
		return "Conditional Request Failed"
	case 413:
		return "Request Entity Too Large"
	case 415:
		return "Unsupported Media Type"
	case 416:
		return "Unsupported URI Scheme"
	case 420:
		return "Bad Extension"
	case 423:
		return "Interval Too Brief"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 489:
		return "Bad Event"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	}
	switch {
	case code >= 200 && code < 300:
		return "OK"
	case code >= 500:
		return "Server Error"
	}
	return "Error"
}
