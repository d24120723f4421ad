package alignment

import "testing"

func BenchmarkMeasureDiversity(b *testing.B) {
	rs := []Response{{Text: "p17 answer 42 more more"}, {Text: "p17 answer 7"}, {Text: "p17 answer 42 more more"}, {Text: "p17 answer 91 more"}}
	b.ReportAllocs()
	for b.Loop() {
		measureDiversity(len(rs), func(i int) string { return rs[i].Text })
	}
}
