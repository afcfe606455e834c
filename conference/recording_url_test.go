package conference

import "testing"

func TestRedactStreamURL(t *testing.T) {
	for in, want := range map[string]string{
		"rtmp://live.example.com/app/sk-123":          "rtmp://live.example.com/app/xxxxx",
		"rtmps://u:pw@live.example.com:443/app/k?t=1": "rtmps://u:xxxxx@live.example.com:443/app/xxxxx?redacted",
		"rtmp://127.0.0.1:1935/live":                  "rtmp://127.0.0.1:1935/live",
		"":                                            "",
	} {
		if got := redactStreamURL(in); got != want {
			t.Errorf("redactStreamURL(%q) = %q, want %q", in, got, want)
		}
	}
}
