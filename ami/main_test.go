package ami

import (
	"testing"

	"go.uber.org/goleak"
)

// amigoLoops are amigo's own goroutines: amigo has no Close, so every
// client a test started leaves them behind (reconnecting, or asleep for
// the hour-long reconnect interval). They are ignored by name; any other
// goroutine left over fails the run.
var amigoLoops = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/ivahaev/amigo.newAMIAdapter.func1"),
	goleak.IgnoreAnyFunction("github.com/ivahaev/amigo.(*Amigo).Connect.func1"),
	goleak.IgnoreAnyFunction("github.com/ivahaev/amigo.(*amiAdapter).reader"),
	goleak.IgnoreAnyFunction("github.com/ivahaev/amigo.(*amiAdapter).reader.func1"),
	goleak.IgnoreAnyFunction("github.com/ivahaev/amigo.(*amiAdapter).writer"),
	goleak.IgnoreAnyFunction("github.com/ivahaev/amigo.(*amiAdapter).pinger"),
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, amigoLoops...)
}
