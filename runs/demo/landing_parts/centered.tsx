// Layout "centered": one column, a big centred claim, proof chips, cards with round marks.
function Hero() {
  return (
    <section data-testid="demo-hero" style={{ textAlign: "center", background: page.gradient
      ? `linear-gradient(180deg, ${c.soft}, ${c.bg} 85%)` : c.bg }}>
      <div style={{ ...wrap, maxWidth: 820, padding: "96px clamp(20px, 5vw, 48px) 72px" }}>
        <p style={{ textTransform: "uppercase", letterSpacing: "0.14em", fontSize: 13, fontWeight: 700,
          color: c.accent, margin: 0 }}>{page.eyebrow}</p>
        <h1 data-testid="demo-title" style={{ fontSize: "clamp(2.6rem, 7vw, 4.6rem)", lineHeight: 1.02,
          letterSpacing: "-0.03em", margin: "18px 0 20px", color: c.headline, fontWeight: 850 }}>{page.headline}</h1>
        <p data-testid="demo-subline" style={{ fontSize: 21, lineHeight: 1.5, color: c.muted, margin: "0 auto 32px",
          maxWidth: 640 }}>{page.subline}</p>
        <a href="#join" data-testid="demo-cta" style={{ ...button, padding: "16px 30px", fontSize: 18, borderRadius: 999 }}>{page.cta}</a>
        <div style={{ display: "flex", gap: 10, justifyContent: "center", flexWrap: "wrap", marginTop: 36 }}>
          {page.features.map((f) => (
            <span key={f.title} style={{ padding: "8px 14px", borderRadius: 999, border: `1px solid ${c.border}`,
              fontSize: 14, color: c.muted }}>{f.title}</span>
          ))}
        </div>
      </div>
    </section>
  );
}

function Features() {
  return (
    <section id="features" data-testid="demo-features" style={{ ...wrap, padding: "40px clamp(20px, 5vw, 48px) 80px",
      textAlign: "center" }}>
      <h2 style={{ fontSize: 34, margin: "0 0 36px", letterSpacing: "-0.02em" }}>{page.features_title}</h2>
      <div style={{ display: "grid", gap: 24, gridTemplateColumns: "repeat(auto-fit, minmax(230px, 1fr))" }}>
        {page.features.map((f) => (
          <article key={f.title} data-testid="demo-feature" style={{ padding: "32px 24px", borderRadius: 20,
            background: c.surface }}>
            <div style={{ width: 52, height: 52, borderRadius: "50%", margin: "0 auto 18px",
              background: `conic-gradient(${c.accent}, ${c.soft}, ${c.accent})` }} />
            <h3 style={{ margin: "0 0 10px", fontSize: 20 }}>{f.title}</h3>
            <p style={{ margin: 0, color: c.muted, lineHeight: 1.55 }}>{f.text}</p>
          </article>
        ))}
      </div>
    </section>
  );
}

function Band() {
  return (
    <section id="join" data-testid="demo-band" style={{ ...wrap, paddingBottom: 80 }}>
      <div style={{ borderRadius: 28, padding: "56px clamp(20px, 5vw, 56px)", textAlign: "center", color: "#fff",
        background: page.gradient ? `linear-gradient(135deg, ${c.band}, color-mix(in srgb, ${c.band} 50%, #000))` : c.band }}>
        <h2 style={{ fontSize: 34, margin: "0 0 10px" }}>{page.band_title}</h2>
        <p style={{ margin: "0 0 26px", opacity: 0.9, fontSize: 18 }}>{page.band_text}</p>
        <div style={{ maxWidth: 520, margin: "0 auto" }}><Join light /></div>
      </div>
    </section>
  );
}

function Footer() {
  return (
    <footer data-testid="demo-footer" style={{ textAlign: "center", color: c.muted, fontSize: 14,
      padding: "28px 20px 40px" }}>
      <p style={{ margin: "0 0 6px", color: c.text, fontWeight: 650 }}>{page.footer}</p>
      <p data-testid="demo-label" style={{ margin: 0 }}>{LABEL}</p>
    </footer>
  );
}
