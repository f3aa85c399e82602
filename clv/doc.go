// Package clv predicts what customers will buy from their purchase history
// alone: how many purchases (BG/NBD, Pareto/NBD), how much per purchase
// (Gamma-Gamma), whether they are still customers, which are at risk of
// buying nothing, and their discounted lifetime value. It is pure math on
// the standard library; callers bring the transactions.
//
// Summarize turns transactions into Customer summaries (x, t_x, T, m_x) with
// the conventions of the CDNOW studies: one purchase per customer and day,
// weeks of 7 days, calibration end inclusive, the first purchase left out of
// m_x. Fit (or FitBGNBD, FitParetoNBD, FitGammaGamma) finds the maximum
// likelihood parameters: customers with the same (x, t_x, T) are grouped
// into one weighted row, then Nelder–Mead on the log-parameters, restarted
// until it stops improving, is polished with Newton steps on a
// finite-difference Hessian. The Pareto/NBD likelihood follows Fader &
// Hardie's note with its α ≥ β and β > α branches, which keep the argument
// of ₂F₁ in [0, 1).
//
// References: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy
// Way", Marketing Science 24(2); Schmittlein, Morrison & Colombo (1987),
// Management Science 33(1); Fader & Hardie (2005), "A Note on Deriving the
// Pareto/NBD Model and Related Expressions"; Fader, Hardie & Lee (2005), "RFM
// and CLV", JMR 42(4); Fader & Hardie (2013), "The Gamma-Gamma Model of
// Monetary Value".
//
// # Measured on CDNOW
//
// On the CDNOW sample (2,357 customers, calibration to 1997-09-30):
//
//	BG/NBD       r=0.242595 α=4.413603  a=0.792922 b=2.425908  LL=-9582.429
//	Pareto/NBD   r=0.553277 α=10.577682 s=0.606240 β=11.668731 LL=-9594.976
//	Gamma-Gamma  p=6.249572 q=3.744224  γ=15.443521            LL=-4055.918
//
// BTYD's published BG/NBD b (2.4261667) and Pareto/NBD α, β (10.5801985,
// 11.6562237) lie off these by 2.6e-4, 2.5e-3 and 1.2e-2, where the
// likelihood is flat: their LL is 1e-7 and 2e-5 below ours.
//
// Which score finds the customers who will buy nothing in the 39 holdout
// weeks (1,673 of 2,357)? AUC, the chance that a random such customer
// scores above a random buyer (0.5 is chance):
//
//	frequency baseline: -x                   0.7576
//	BG/NBD 1 - P(alive)                      0.3158   worse than chance: P(alive) = 1 when x = 0
//	Pareto/NBD 1 - P(alive)                  0.7262
//	BG/NBD P(no purchase in 39 weeks)        0.7569
//	AtRisk(BG/NBD, 39): -E[Y(39)] ranking    0.7725
//	AtRisk(Pareto/NBD, 39)                   0.7787
//
// So AtRisk ranks by expected purchases over the horizon, not by P(alive),
// and kith clv fit uses it with Pareto/NBD. Reproduce with
//
//	go test ./clv -run 'FitCDNOW|AtRiskAUC' -v
//
// Fitting all three models takes 0.38 s on CDNOW and 0.54 s on a million
// customers resampled from it (2 cores; go test ./clv -run '^$' -bench .
// -benchtime 1x); the full CDNOW master file (23,570 customers, 8,685
// distinct histories) takes about 2 s.
package clv
