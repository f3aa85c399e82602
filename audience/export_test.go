package audience

// SetScanHook sets a function run between a scan's reading of a page of
// people and its recording of them; nil removes it.
func SetScanHook(f func()) { scanHook = f }
