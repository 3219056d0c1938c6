//! Popups drawn over the panes: confirmations, the manual order form, the flatten
//! preview, the help overlay, the report view, the feed health view, the order-history
//! view, the strategies view.

pub mod confirm;
pub mod health;
pub mod help;
pub mod history;
pub mod order_form;
pub mod report;
pub mod strategies;

use crate::app::{Confirm, Popup};
use crate::ui::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    match app.popup() {
        None => {}
        Some(Popup::Help) => help::render(app, frame, area),
        Some(Popup::Confirm(Confirm::Flatten)) => confirm::render_flatten(app, frame, area),
        Some(Popup::Confirm(c)) => confirm::render(app, *c, frame, area),
        Some(Popup::Order(form)) => order_form::render(app, form, frame, area),
        Some(Popup::Report) => report::render(app, frame, area),
        Some(Popup::Health) => health::render(app, frame, area),
        Some(Popup::History) => history::render(app, frame, area),
        Some(Popup::Strategies(ed)) => strategies::render(app, ed, frame, area),
    }
}

/// A centred rectangle of at most `w` x `h` inside `area`.
pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    r
}
