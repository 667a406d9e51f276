bot, err := tgbotapi.NewBotAPI("991675173:AAtKp7iCjK4aWUK0iHby-3WQkTvojS0g8fe")
