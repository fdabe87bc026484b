// Layout "split": hero text on the left, a product visual on the right.
function Hero() {
  return (
    <section data-testid="demo-hero" style={{ background: page.gradient
      ? `radial-gradient(1200px 500px at 85% -10%, ${c.soft}, transparent), ${c.bg}` : c.bg }}>
      <div style={{ ...wrap, display: "grid", gap: 48, alignItems: "center", padding: "72px clamp(20px, 5vw, 48px)",
        gridTemplateColumns: "repeat(auto-fit, minmax(300px, 1fr))" }}>
        <div>
          <span style={{ display: "inline-block", padding: "6px 12px", borderRadius: 999, fontSize: 14,
            fontWeight: 600, background: c.soft, color: c.accent }}>{page.eyebrow}</span>
          <h1 data-testid="demo-title" style={{ fontSize: "clamp(2.3rem, 5vw, 3.7rem)", lineHeight: 1.05,
            letterSpacing: "-0.02em", margin: "18px 0", color: c.headline }}>{page.headline}</h1>
          <p data-testid="demo-subline" style={{ fontSize: 20, lineHeight: 1.5, color: c.muted, margin: "0 0 28px" }}>{page.subline}</p>
          <div style={{ display: "flex", gap: 12, flexWrap: "wrap" }}>
            <a href="#join" data-testid="demo-cta" style={button}>{page.cta}</a>
            <a href="#features" style={ghost}>See how it works</a>
          </div>
        </div>
        <div aria-hidden="true" style={{ borderRadius: 24, padding: 28, minHeight: 320,
          background: `linear-gradient(150deg, ${c.accent}, ${c.deep})`, color: "#fff",
          boxShadow: "0 30px 60px rgba(15, 23, 42, 0.25)", display: "flex", flexDirection: "column",
          gap: 14 }}>
          <div style={{ display: "flex", justifyContent: "space-between", alignItems: "center" }}>
            <strong style={{ fontSize: 20 }}>{page.brand}</strong>
            <span style={{ fontSize: 13, padding: "4px 10px", borderRadius: 999,
              background: "rgba(255,255,255,0.2)" }}>{page.eyebrow}</span>
          </div>
          <p style={{ fontSize: 26, fontWeight: 750, lineHeight: 1.15, margin: "8px 0 auto",
            maxWidth: 360 }}>{page.band_title}</p>
          {page.features.map((f, i) => (
            <div key={f.title} style={{ background: "rgba(255,255,255,0.16)", borderRadius: 14,
              padding: "14px 16px", marginLeft: i * 18 }}>
              <strong>{f.title}</strong>
            </div>
          ))}
        </div>
      </div>
    </section>
  );
}

function Features() {
  return (
    <section id="features" data-testid="demo-features" style={{ background: c.surface }}>
      <div style={{ ...wrap, padding: "72px clamp(20px, 5vw, 48px)" }}>
        <h2 style={{ fontSize: 32, margin: "0 0 32px", letterSpacing: "-0.01em" }}>{page.features_title}</h2>
        <div style={{ display: "grid", gap: 20, gridTemplateColumns: "repeat(auto-fit, minmax(230px, 1fr))" }}>
          {page.features.map((f, i) => (
            <article key={f.title} data-testid="demo-feature" style={{ background: c.bg, borderRadius: 16, padding: 26,
              border: `1px solid ${c.border}` }}>
              <span style={{ display: "inline-grid", placeItems: "center", width: 36, height: 36, borderRadius: 10,
                background: c.soft, color: c.accent, fontWeight: 700 }}>{i + 1}</span>
              <h3 style={{ margin: "16px 0 8px", fontSize: 20 }}>{f.title}</h3>
              <p style={{ margin: 0, color: c.muted, lineHeight: 1.55 }}>{f.text}</p>
            </article>
          ))}
        </div>
      </div>
    </section>
  );
}

function Band() {
  return (
    <section id="join" data-testid="demo-band" style={{ background: page.gradient
      ? `linear-gradient(120deg, ${c.band}, color-mix(in srgb, ${c.band} 55%, #000))` : c.band, color: "#fff" }}>
      <div style={{ ...wrap, padding: "56px clamp(20px, 5vw, 48px)", display: "grid", gap: 24, alignItems: "center",
        gridTemplateColumns: "repeat(auto-fit, minmax(280px, 1fr))" }}>
        <div>
          <h2 style={{ fontSize: 30, margin: "0 0 8px" }}>{page.band_title}</h2>
          <p style={{ margin: 0, opacity: 0.9, fontSize: 18 }}>{page.band_text}</p>
        </div>
        <Join light />
      </div>
    </section>
  );
}

function Footer() {
  return (
    <footer data-testid="demo-footer" style={{ borderTop: `1px solid ${c.border}`, color: c.muted }}>
      <div style={{ ...wrap, padding: "28px clamp(20px, 5vw, 48px)", display: "flex", gap: 16, flexWrap: "wrap",
        justifyContent: "space-between", fontSize: 14 }}>
        <span>{page.footer}</span>
        <span data-testid="demo-label">{LABEL}</span>
      </div>
    </footer>
  );
}
