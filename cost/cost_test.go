package cost

import "testing"

func TestUnits(t *testing.T) {
	for size, want := range map[int]float64{0: 1, 1: 1, 1024: 1, 1025: 2, 3000: 3} {
		if got := WriteUnits(size); got != want {
			t.Errorf("WriteUnits(%d) = %v, want %v", size, got, want)
		}
	}
	for _, tc := range []struct {
		size       int
		consistent bool
		want       float64
	}{{100, true, 1}, {100, false, 0.5}, {4096, true, 1}, {4097, true, 2}, {9000, false, 1.5}} {
		if got := ReadUnits(tc.size, tc.consistent); got != tc.want {
			t.Errorf("ReadUnits(%d, %v) = %v, want %v", tc.size, tc.consistent, got, tc.want)
		}
	}
}

func TestNumberSize(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "7": 2, "12": 2, "123": 3, "1234567": 5, "100": 2, "-12.50": 3, "1764000000000": 3, "1.5e3": 2} {
		if got := NumberSize(in); got != want {
			t.Errorf("NumberSize(%s) = %d, want %d", in, got, want)
		}
	}
	if got := StoredBytes(50, 3); got != 4*150 {
		t.Errorf("StoredBytes(50, 3) = %d, want 600", got)
	}
}
