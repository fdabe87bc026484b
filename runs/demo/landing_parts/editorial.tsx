// Layout "editorial": serif type, a ruled masthead, numbered columns and a pull quote.
function Hero() {
  return (
    <section data-testid="demo-hero" style={{ ...wrap, padding: "64px clamp(20px, 5vw, 48px) 48px" }}>
      <div style={{ borderTop: `3px solid ${c.text}`, borderBottom: `1px solid ${c.border}`, padding: "10px 0",
        display: "flex", justifyContent: "space-between", fontSize: 13, letterSpacing: "0.12em",
        textTransform: "uppercase", color: c.muted }}>
        <span>{page.eyebrow}</span><span>No. 1</span>
      </div>
      <h1 data-testid="demo-title" style={{ fontFamily: serif, fontWeight: 400, fontSize: "clamp(2.6rem, 7.5vw, 5.4rem)",
        lineHeight: 1.0, letterSpacing: "-0.02em", margin: "40px 0 24px", maxWidth: 900, color: c.headline }}>{page.headline}</h1>
      <div style={{ display: "grid", gap: 32, gridTemplateColumns: "repeat(auto-fit, minmax(280px, 1fr))",
        alignItems: "end" }}>
        <p data-testid="demo-subline" style={{ fontFamily: serif, fontStyle: "italic", fontSize: 23, lineHeight: 1.45,
          color: c.muted, margin: 0 }}>{page.subline}</p>
        <div style={{ textAlign: "right" }}>
          <a href="#join" data-testid="demo-cta" style={{ ...button, borderRadius: 0, padding: "16px 28px",
            background: page.gradient ? `linear-gradient(90deg, ${c.accent}, ${c.deep})` : c.accent }}>{page.cta} →</a>
        </div>
      </div>
    </section>
  );
}

function Features() {
  const numerals = ["I", "II", "III", "IV", "V"];
  return (
    <section id="features" data-testid="demo-features" style={{ ...wrap, padding: "40px clamp(20px, 5vw, 48px) 72px" }}>
      <h2 style={{ fontFamily: serif, fontWeight: 400, fontSize: 30, margin: "0 0 28px" }}>{page.features_title}</h2>
      <div style={{ display: "grid", gap: 36, gridTemplateColumns: "repeat(auto-fit, minmax(230px, 1fr))" }}>
        {page.features.map((f, i) => (
          <article key={f.title} data-testid="demo-feature" style={{ borderTop: `2px solid ${c.accent}`, paddingTop: 18 }}>
            <span style={{ fontFamily: serif, fontSize: 44, color: c.accent, lineHeight: 1 }}>{numerals[i]}</span>
            <h3 style={{ fontFamily: serif, fontWeight: 600, fontSize: 23, margin: "14px 0 8px" }}>{f.title}</h3>
            <p style={{ margin: 0, color: c.muted, lineHeight: 1.6, fontSize: 17 }}>{f.text}</p>
          </article>
        ))}
      </div>
    </section>
  );
}

function Band() {
  return (
    <section id="join" data-testid="demo-band" style={{ background: page.band_color ?? c.surface,
      color: page.band_color ? "#fff" : c.text }}>
      <div style={{ ...wrap, padding: "72px clamp(20px, 5vw, 48px)", display: "grid", gap: 32,
        gridTemplateColumns: "repeat(auto-fit, minmax(300px, 1fr))", alignItems: "center" }}>
        <blockquote style={{ margin: 0, fontFamily: serif, fontSize: "clamp(1.8rem, 4vw, 2.6rem)", lineHeight: 1.2,
          borderLeft: `4px solid ${page.band_color ? "#fff" : c.accent}`, paddingLeft: 24 }}>
          {page.band_title}
          <footer style={{ fontFamily: sans, fontSize: 17, marginTop: 12, opacity: 0.8 }}>{page.band_text}</footer>
        </blockquote>
        <Join />
      </div>
    </section>
  );
}

function Footer() {
  return (
    <footer data-testid="demo-footer" style={{ ...wrap, padding: "28px clamp(20px, 5vw, 48px) 40px", fontSize: 14,
      color: c.muted, display: "flex", justifyContent: "space-between", gap: 16, flexWrap: "wrap",
      borderTop: `1px solid ${c.border}` }}>
      <span style={{ fontFamily: serif, fontSize: 18, color: c.text }}>{page.footer}</span>
      <span data-testid="demo-label">{LABEL}</span>
    </footer>
  );
}
